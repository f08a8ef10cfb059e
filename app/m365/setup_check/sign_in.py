"""Probes of the tokens themselves. Asking Entra (or the sandbox's sign-in) for a token
changes nothing in the tenant, so each is harmless."""

from __future__ import annotations

from collections.abc import Callable

from app.m365.setup_check import connections, fixes
from app.m365.setup_check.context import Run, probe
from app.m365.setup_check.results import Outcome, failed, not_applicable, passed
from graph.port import Graph, GraphError, TokenUnavailable


def _client(run: Run, get_token: Callable[[], Callable[[], str]]
            ) -> tuple[Graph | None, Exception | None]:
    """The client a token gives, or what stopped the token. The token endpoint is asked
    here, not at the first Graph call, so its failure is told apart from Graph's."""
    try:
        token = get_token()
        token()
    except (TokenUnavailable, GraphError) as error:
        return None, error
    return connections.client(run.app, token, run.timeout), None


def _failure(error: Exception, fix: str) -> Outcome:
    if isinstance(error, GraphError):  # Entra unreachable or busy: it passes with time
        return failed(error.message, fixes.try_again())
    return failed(str(error), fix)


@probe("app-token", "Incident Desk's own token",
       "client credentials, for its application permissions")
def app_token(run: Run) -> Outcome:
    """Client credentials, which contact sync, reports, the shared mailbox and archiving
    act with. Harmless: asking Entra for a token changes nothing in the tenant."""
    graph, error = _client(run, lambda: connections.app_token(run.app, run.timeout))
    if error is not None:
        return _failure(error, (
            "Check ENTRA_TENANT_ID, ENTRA_CLIENT_ID and ENTRA_CLIENT_SECRET. A client "
            "secret expires: make a new one under Entra admin centre → App registrations → "
            "Incident Desk → Certificates & secrets, and set ENTRA_CLIENT_SECRET to its "
            "value."))
    run.as_app = graph
    return passed(f"A token was issued to the app ({connections.where(run.app)}).")


@probe("service-account-token", "The service account's sign-in",
       "M365_SERVICE_ACCOUNT, for its delegated permissions")
def service_account_token(run: Run) -> Outcome:
    """The account whose stored sign-in does the work nobody is behind (alert-opened
    incidents, reminders) and adds people to the team. Harmless: refreshing a token
    changes nothing in the tenant (the refreshed cache is stored, as after any job)."""
    who = run.installation.service_account
    if not who:
        return failed("M365_SERVICE_ACCOUNT is not set.", fixes.setting(
            "M365_SERVICE_ACCOUNT", "the email of an account that owns the team "
            "(M365_TEAM_ID), and sign in to Incident Desk as it once"))
    graph, error = _client(run, lambda: connections.person_token(run.app, who, run.timeout))
    if error is not None:
        return _failure(error, fixes.sign_in(who))
    run.as_service = graph
    return passed(f"The stored sign-in of {who} gave a token.")


@probe("your-token", "Your own sign-in", "for your delegated permissions")
def your_token(run: Run) -> Outcome:
    """The administrator's own token, as everyone's own work (declaring, sending updates)
    uses theirs. Harmless: refreshing a token changes nothing in the tenant."""
    you = run.you
    if you is None:
        return not_applicable("Checked only on the set-up check page, for whoever runs it "
                              "there.")
    graph, error = _client(run, lambda: connections.person_token(run.app, you, run.timeout))
    if error is not None:
        return _failure(error, "Sign out of Incident Desk and sign in again.")
    run.as_you = graph
    return passed(f"Your stored sign-in ({you}) gave a token.")
