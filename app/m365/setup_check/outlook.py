"""Probes of Outlook: stakeholder email (from the shared mailbox as the app, or as a
person), the review meeting and the command-room meeting.

Each write is a request Exchange or Teams must refuse after it has checked the
permission on that mailbox: a 403 names what is missing, a 400 shows it is there, and
nothing is saved, sent, booked or made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.m365.setup_check import fixes
from app.m365.setup_check.answers import DONE, INVALID, NOT_FOUND, REFUSED, Answer, attempt
from app.m365.setup_check.context import Run, probe
from app.m365.setup_check.results import Outcome, failed, not_checked, passed
from graph.port import ME, EventRequest, Graph, Mail, Sender

SUBJECT = "Incident Desk set-up check"
NEEDS_SERVICE = "Needs the service account's sign-in (see above)."


def _mail_path(run: Run) -> tuple[Graph | None, Sender, str, str]:
    """(client, mailbox, permission kind, whose mailbox) stakeholder email uses: the
    shared mailbox as the app when M365_MAIL_FROM is set, else a person's own (tried as
    the service account's)."""
    mailbox = run.installation.mail_from
    if mailbox:
        return run.as_app, Sender(mailbox), "application", mailbox
    return run.as_service, ME, "delegated", run.installation.service_account or ""


def _mail_failure(answer: Answer, permission: str, kind: str, who: str) -> Outcome:
    if answer.kind == REFUSED:
        return failed(answer.said, fixes.mailbox_rbac(permission, who) if kind == "application"
                      else fixes.consent(permission, "delegated", who))
    if answer.kind == NOT_FOUND:
        return failed(answer.said, fixes.setting(
            "M365_MAIL_FROM", "the address of an existing shared mailbox") if kind ==
            "application" else f"Give {who} an Exchange Online mailbox (a licence with "
                               "Exchange).")
    return failed(answer.said, fixes.try_again())


@probe("draft-mail", "Save stakeholder email as a draft first",
       "Mail.ReadWrite: application on M365_MAIL_FROM through Exchange RBAC; unset, "
       "delegated")
def draft_mail(run: Run) -> Outcome:
    """Asks to save a draft whose one recipient is not an email address and whose header's
    name lacks the "x-" custom headers need: Exchange checks Mail.ReadWrite on the
    mailbox first (403 without it, or outside the app's RBAC scope), then refuses the
    draft (400). Nothing is saved."""
    graph, sender, kind, who = _mail_path(run)
    if graph is None:
        return not_checked(NEEDS_SERVICE if kind == "delegated"
                           else "Needs Incident Desk's own token (see above).")
    answer = attempt(lambda: graph.create_invalid_draft(sender))
    if answer.kind == INVALID:
        return passed(f"Outlook refused the check's invalid draft (400), so drafts can be "
                      f"saved in {who}'s mailbox.")
    if answer.kind == DONE:
        from graph.client import PROBE_SUBJECT

        return failed("Outlook saved the check's invalid draft.",
                      f"Delete the draft “{PROBE_SUBJECT}” from the Drafts of {who}.")
    return _mail_failure(answer, "Mail.ReadWrite", kind, who)


@probe("send-mail", "Send stakeholder email",
       "Mail.Send: application on M365_MAIL_FROM through Exchange RBAC; unset, delegated")
def send_mail(run: Run) -> Outcome:
    """Asks to send a message with no recipients: Exchange checks Mail.Send on the mailbox
    first (403 without it, or outside the app's RBAC scope), then refuses a message nobody
    could receive (400). Nothing is sent."""
    graph, sender, kind, who = _mail_path(run)
    if graph is None:
        return not_checked(NEEDS_SERVICE if kind == "delegated"
                           else "Needs Incident Desk's own token (see above).")
    answer = attempt(lambda: graph.send_mail(sender, Mail(SUBJECT, "", to=())))
    if answer.kind == INVALID:
        return passed(f"Outlook refused the check's message to nobody (400), so mail can "
                      f"be sent from {who}.")
    if answer.kind == DONE:
        return failed("Outlook accepted a message with no recipients (nobody got it).",
                      f"Delete “{SUBJECT}” from the Sent Items of {who}.")
    return _mail_failure(answer, "Mail.Send", kind, who)


@probe("book-meeting", "Book the review meeting", "Calendars.ReadWrite, delegated")
def book_meeting(run: Run) -> Outcome:
    """Asks for an event in the service account's calendar that ends a minute before it
    starts: Exchange checks Calendars.ReadWrite first (403 without it), then refuses the
    times (400). Nothing is booked."""
    who = run.installation.service_account or ""
    if run.as_service is None:
        return not_checked(NEEDS_SERVICE)
    start = datetime.now(UTC) + timedelta(days=1)
    backwards = EventRequest(subject=SUBJECT, start=start, end=start - timedelta(minutes=1),
                             online_meeting=False)
    answer = attempt(lambda: run.as_service.create_event(ME, backwards))
    if answer.kind == INVALID:
        return passed("Outlook refused the check's backwards event (400), so meetings can "
                      "be booked.")
    if answer.kind == DONE:
        return failed("Outlook booked the check's event although it ends before it starts.",
                      f"Delete “{SUBJECT}” from the calendar of {who}.")
    return _mail_failure(answer, "Calendars.ReadWrite", "delegated", who)


@probe("command-room", "Open the Teams meeting used as command room",
       "OnlineMeetings.ReadWrite, delegated")
def command_room(run: Run) -> Outcome:
    """Asks createOrGet for a meeting without the externalId Graph requires: Graph checks
    OnlineMeetings.ReadWrite first (403 without it), then refuses the request (400).
    No meeting is made."""
    who = run.installation.service_account or ""
    if run.as_service is None:
        return not_checked(NEEDS_SERVICE)
    start = datetime.now(UTC) + timedelta(days=1)
    answer = attempt(lambda: run.as_service.create_online_meeting(
        ME, SUBJECT, start, start + timedelta(hours=1), ""))
    if answer.kind == INVALID:
        return passed("Graph refused the check's meeting without an id (400), so command "
                      "rooms can be opened.")
    if answer.kind == DONE:
        return failed("Graph made a meeting without the id it requires.",
                      f"Nothing to delete by hand: a meeting made by createOrGet is not in "
                      f"{who}'s calendar and is never used.")
    return _mail_failure(answer, "OnlineMeetings.ReadWrite", "delegated", who)
