"""The reports an incident can have, with their builder and how their file is named."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from reports import IncidentSnapshot, build_major, build_public, build_review, build_running

RUNNING, MAJOR, REVIEW_DRAFT, REVIEW_FINAL, PUBLIC = (
    "running", "major", "review_draft", "review_final", "public")


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    # (snapshot, template, whether the review draft may name people) -> .docx bytes
    build: Callable[[IncidentSnapshot, bytes | None, bool], bytes]
    why: str  # when it is written, for the incident page

    def file_name(self, day: date, reference: str) -> str:
        """'2026-11-30 INC-2026-0007 Running incident report.docx': the day it was first
        written, then the reference, so the folder sorts by date and names never clash."""
        return f"{day.isoformat()} {reference} {self.label}.docx"


KINDS: dict[str, Kind] = {k.key: k for k in (
    Kind(RUNNING, "Running incident report", lambda snap, tpl, _names: build_running(snap, tpl),
         "Written when the incident is declared and refreshed as it changes."),
    Kind(MAJOR, "Major incident report", lambda snap, tpl, _names: build_major(snap, tpl),
         "For the central team: written at close, updated after the review."),
    Kind(REVIEW_DRAFT, "Post-incident review (draft)",
         lambda snap, tpl, names: build_review(snap, tpl, final=False, blameless=not names),
         "Written from the review page, to circulate before the review meeting."),
    Kind(REVIEW_FINAL, "Post-incident review",
         lambda snap, tpl, _names: build_review(snap, tpl, final=True),
         "Written when the review is marked final."),
    Kind(PUBLIC, "Public version", lambda snap, tpl, _names: build_public(snap, tpl),
         "For clients and the status page: written at close. Never for security incidents."),
)}
