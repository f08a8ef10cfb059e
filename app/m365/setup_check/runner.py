"""Running the probes in order, each bounded: every request has `timeout` seconds, and
once `budget` seconds have gone the rest are reported as not checked rather than run."""

from __future__ import annotations

import logging
import time

from flask import Flask

from app.m365.setup_check import connections, outlook, settings, sharepoint, sign_in, teams
from app.m365.setup_check.context import Probe, Run
from app.m365.setup_check.results import Finding, Outcome, Report, failed, not_checked

log = logging.getLogger(__name__)

# Later probes use what earlier ones found (tokens, the team's members): keep the order.
SECTIONS: tuple[tuple[str, tuple[Probe, ...]], ...] = (
    ("Settings", settings.PROBES),
    ("Sign-in", (sign_in.app_token, sign_in.service_account_token, sign_in.your_token)),
    ("Teams", (teams.team_members, teams.service_account_member,
               teams.service_account_owner, teams.you_member, teams.create_channel,
               teams.list_channels, teams.broadcast_channel, teams.post_message,
               teams.read_messages, teams.archive_channels)),
    ("Outlook", (outlook.draft_mail, outlook.send_mail, outlook.book_meeting,
                 outlook.command_room)),
    ("SharePoint", (sharepoint.contacts_list, sharepoint.reports_folder,
                    sharepoint.report_template)),
)
REQUEST_TIMEOUT = 10.0
BUDGET = 120.0


def run_check(app: Flask, you: str | None = None, *, timeout: float = REQUEST_TIMEOUT,
              budget: float = BUDGET) -> Report:
    """Every probe against the configured tenant (or the sandbox); `you` is the email of
    the administrator running it from the page, whose own sign-in is checked too."""
    run = Run(app, timeout, you)
    deadline = time.monotonic() + budget
    findings = []
    for section, probes in SECTIONS:
        for probe in probes:
            if time.monotonic() >= deadline:
                outcome = not_checked(f"The check stopped after {budget:g} seconds; run it "
                                      "again to see the rest.")
            else:
                outcome = _contained(probe, run)
            findings.append(Finding(probe.key, probe.title, outcome.status, outcome.detail,
                                    outcome.fix, section, probe.needs, outcome.commands,
                                    outcome.docs))
    return Report(connections.where(app), tuple(findings))


def _contained(probe: Probe, run: Run) -> Outcome:
    """A probe's outcome; a bug in one is logged and reported as that probe failing, so
    the others still run and nobody is shown a stack trace."""
    try:
        return probe.run(run)
    except Exception:
        log.exception("the Microsoft 365 set-up check %r failed", probe.key)
        return failed("Incident Desk could not run this check: the error is in its log.",
                      "Tell whoever runs Incident Desk; the log names the error.")
