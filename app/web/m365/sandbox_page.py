"""Which sandbox's record the /sandbox page shows, and how the page describes it.

The built-in sandbox's state is GRAPH_SANDBOX_DB. A standalone sandbox (GRAPH_BASE_URL)
keeps its own: the file it reported at start-up (GET /_sandbox/seed) when this machine can
read it, else GRAPH_SANDBOX_DB when that file exists (the sandbox runs elsewhere with the
file shared). The file is only read here, never seeded: the sandbox owns it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import Flask, current_app
from flask_login import current_user

from app.db import Session
from app.m365.sandbox_host import Unseen, unseen_by


@dataclass(frozen=True)
class Source:
    standalone: bool
    graph_base_url: str | None = None
    state_file: str | None = None  # None: a standalone sandbox's file cannot be read here
    reported_file: str | None = None  # what the sandbox said it keeps state in


def sandbox_record(app: Flask):
    """(state, Source), or None when the app does not talk to a sandbox."""
    from app.m365.graph_setup import BUILT_IN
    from app.m365.sandbox_host import standalone_state, state_for

    settings, setup = app.extensions["settings"], app.extensions["graph_setup"]
    if setup.kind == BUILT_IN:
        return state_for(settings.graph_sandbox_db), Source(
            False, state_file=settings.graph_sandbox_db)
    if not setup.standalone:
        return None
    path = _readable(setup.state_file) or _readable(settings.graph_sandbox_db)
    source = Source(True, setup.base_url, path, setup.state_file)
    return (standalone_state(path) if path else None), source


def unseen_here() -> Unseen:
    """What the signed-in person may not see on the sandbox page or download from it:
    the same people who get 404 on a security incident see none of its cards, mail,
    meetings, requests or files, nor the restricted reports folder (app.m365.sandbox_host)."""
    return unseen_by(Session, current_user, current_app.extensions["installation"])


def _readable(path: str | None) -> str | None:
    if path and path != ":memory:" and os.path.isfile(path) and os.access(path, os.R_OK):
        return os.path.abspath(path)
    return None
