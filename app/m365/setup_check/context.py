"""What the probes share while the check runs: the app, the clients each token gave, and
what earlier probes learnt (the team's members)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

from app.m365.setup_check.results import Outcome
from graph.port import Graph, TeamMember


@dataclass
class Run:
    app: Flask
    timeout: float  # seconds for each request to Entra or Graph
    you: str | None = None  # the administrator at the page (None from the command line)
    as_app: Graph | None = None
    as_service: Graph | None = None
    as_you: Graph | None = None
    members: tuple[TeamMember, ...] | None = None  # the team's, as the service account sees

    @property
    def settings(self):
        return self.app.extensions["settings"]

    @property
    def installation(self):
        return self.app.extensions["installation"]


@dataclass(frozen=True)
class Probe:
    key: str
    title: str  # what Incident Desk needs, as the administrator reads it
    needs: str  # the permission or setting it rests on
    run: Callable[[Run], Outcome]


def probe(key: str, title: str, needs: str) -> Callable[[Callable[[Run], Outcome]], Probe]:
    def make(function: Callable[[Run], Outcome]) -> Probe:
        return Probe(key, title, needs, function)

    return make


def is_person(member: TeamMember, email: str, object_id: str | None = None) -> bool:
    """Whether a team member is this person: Graph names members by object id and gives
    their email; the sandbox names them by UPN."""
    email = email.lower()
    return (member.email.lower() == email or member.user_id.lower() == email
            or (object_id is not None and member.user_id == object_id))
