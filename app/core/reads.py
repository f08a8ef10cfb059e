"""GET and HEAD requests read in read-only transactions (app.db.read_only): on SQLite
pages then read in parallel instead of queueing for the write lock one at a time.

A GET view that must write says so with `@writes` (none does today: signing in, the
one place a redirect stores something, arrives from Entra as a POST). Any other GET
that writes fails in every test run, not now and then in use.
"""

from __future__ import annotations

from contextlib import ExitStack

from flask import Flask, current_app, g, request

from app.db import read_only

READING_METHODS = ("GET", "HEAD")


def writes(view):
    """Mark a view whose GET writes to the database."""
    view.writes_on_get = True
    return view


def register(app: Flask) -> None:
    @app.before_request
    def _read_only_for_reads():
        view = current_app.view_functions.get(request.endpoint or "")
        if request.method in READING_METHODS and not getattr(view, "writes_on_get", False):
            g._read_only = ExitStack()
            g._read_only.enter_context(read_only())

    @app.teardown_request
    def _end_read_only(_exc=None):
        reading = g.pop("_read_only", None)
        if reading is not None:
            reading.close()
