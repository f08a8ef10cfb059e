"""The settings themselves, before any request: which Graph start-up found and where each
Microsoft 365 id comes from (set, filled in from the sandbox, or unset and what that
turns off), so a setting nobody made is never a silent one. Reading settings is harmless.
"""

from __future__ import annotations

from app.m365.graph_setup import (
    BUILT_IN,
    IDS,
    MICROSOFT,
    OTHER,
    REQUIRED,
    STANDALONE,
    UNCHECKED,
    setting_value,
)
from app.m365.setup_check import fixes
from app.m365.setup_check.context import Probe, Run, probe
from app.m365.setup_check.results import Outcome, failed, not_applicable, passed

UNSET_MEANS = {
    "team_id": "incidents get no Teams channel, kickoff card or Teams updates",
    "broadcast_channel_id": "the check looks for the team's General channel; major "
                            "incidents are announced there only if it is found",
    "contacts_site_id": "contacts are not read from SharePoint",
    "contacts_list_id": "contacts are not read from SharePoint",
    "reports_drive_id": "reports are not put in SharePoint (they can still be downloaded)",
    "service_account": "work nobody is behind (alert-opened incidents, reminders) has "
                       "nobody's sign-in to act with",
}


@probe("graph-address", "Which Microsoft Graph", "GRAPH_BASE_URL, ENTRA_CA_BUNDLE")
def graph_address(run: Run) -> Outcome:
    outcome = _graph_address(run)
    bundle = run.settings.entra_ca_bundle
    if bundle and run.settings.entra_configured:
        return Outcome(outcome.status, f"{outcome.detail} Sign-in checks Entra's "
                       f"certificate against ENTRA_CA_BUNDLE={bundle}.", outcome.fix)
    return outcome


def _graph_address(run: Run) -> Outcome:
    setup = run.app.extensions["graph_setup"]
    if setup.kind == BUILT_IN:
        return passed("No tenant and no GRAPH_BASE_URL: the built-in Graph sandbox, with "
                      "its seeded team, channel, contacts list and reports library.")
    if setup.kind == STANDALONE:
        where = setup.state_file or "memory"
        return passed(f"GRAPH_BASE_URL names the Graph sandbox at {setup.base_url} (its "
                      f"state: {where}); the ids not set come from it.")
    if setup.problem:
        return failed(f"GRAPH_BASE_URL={setup.base_url} did not answer at start-up "
                      f"({setup.problem}).", "Check the address, and that what it names "
                      "is running; then restart Incident Desk.")
    if setup.kind == MICROSOFT:
        return passed(f"Microsoft Graph at {setup.base_url}: every id must be set.")
    if setup.kind == OTHER:
        return passed(f"GRAPH_BASE_URL={setup.base_url} is not a Graph sandbox: every id "
                      "must be set.")
    assert setup.kind == UNCHECKED
    return not_applicable(f"GRAPH_BASE_URL={setup.base_url} was not asked at start-up.")


def _id_probe(name: str) -> Probe:
    setting, what = IDS[name]

    def run_it(run: Run) -> Outcome:
        setup = run.app.extensions["graph_setup"]
        value = setting_value(run.settings, name)
        if value:
            return passed(f"{setting} = {value}")
        filled = setup.defaults.get(name)
        if filled:
            source = ("the built-in sandbox's" if setup.kind == BUILT_IN
                      else f"the sandbox at {setup.base_url} says")
            return passed(f"Not set: {source} {filled} is used.")
        if name in REQUIRED:
            return failed(f"Not set: {UNSET_MEANS[name]}.", fixes.setting(setting, what))
        return not_applicable(f"Not set: {UNSET_MEANS[name]}.")

    return probe(f"setting-{setting.lower().replace('_', '-')}", what.capitalize(),
                 setting)(run_it)


def _mail_from(run: Run) -> Outcome:
    if run.settings.mail_from:
        return passed(f"M365_MAIL_FROM = {run.settings.mail_from}")
    return not_applicable("Not set: stakeholder email is sent as the person who sends it.")


PROBES: tuple[Probe, ...] = (
    graph_address, *(_id_probe(name) for name in IDS),
    Probe("setting-m365-mail-from", "The shared mailbox stakeholder email comes from",
          "M365_MAIL_FROM", _mail_from),
)
