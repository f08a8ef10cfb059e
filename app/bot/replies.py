"""The cards the bot answers commands with. Built on app/m365/cards.py's pieces, so user
text (titles, names, notes) only ever travels in TextRuns; the bot's own sentences that
quote a person (an unknown command, a role) put the quote in a TextRun too."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.org import OrgSettings
from app.incidents.models import Incident
from app.incidents.rules import STATUS_BY_KEY
from app.m365.cards import card, fact, open_url, rich, run, severity_style

# Command: what it does. The manifest's command menu (app/teams_app/manifest.py) names the
# same commands; tests/bot/test_commands.py holds the two lists together.
COMMANDS = {
    "declare": "declare followed by a title opens an incident and its Teams channel",
    "status": "In an incident's channel: its status. In a chat with me: your open incidents",
    "update": "In an incident's channel: post an update to the channel and stakeholders",
    "lead me": "In an incident's channel: take the incident lead. Any role works: "
               "scribe me, comms me, tech lead me",
    "note": "In an incident's channel: note followed by text adds it to the log",
    "help": "This list",
}
CHANNEL_ONLY = ("update", "lead me", "note")


def help_card(lead: str | None = None, quoted: str | None = None) -> dict:
    """The commands; `lead` (and the person's own words, `quoted`) says why it is shown."""
    body = [{"type": "TextBlock", "text": "Incident Desk", "weight": "Bolder",
             "size": "Medium"},
            {"type": "FactSet", "facts": [{"title": name, "value": what}
                                          for name, what in COMMANDS.items()]},
            rich(run("In a channel, mention me first: @Incident Desk status.", isSubtle=True),
                 spacing="Small")]
    if lead:
        style = {"weight": "Bolder", "color": "attention"}
        runs = [run(lead, **style)]
        if quoted is not None:  # a run is trimmed: the spaces stay inside the runs
            runs = [run(f"{lead} '", **style), run(quoted, color="attention"),
                    run("'. This is what I can do:", **style)]
        body.insert(0, rich(*runs))
    return card(body)


def notice(message: str, *, heading: str | None = None, url: str | None = None,
           link_text: str = "Open Incident Desk", attention: bool = True) -> dict:
    """One message, optionally with where to go: an error that says what to do."""
    body = []
    if heading:
        body.append(rich(run(heading, weight="Bolder",
                             color="attention" if attention else "good")))
    body.append(rich(run(message), spacing="Small" if heading else "Default"))
    return card(body, [open_url(link_text, url)] if url else [])


def incident_card(org: OrgSettings, incident: Incident, url: str, *,
                  heading: str | None = None, actions: Sequence[dict] = ()) -> dict:
    """The incident as it is now: reference, severity, title, status, roles, services."""
    severity = org.severity(incident.severity)
    major = bool(severity and severity.major)
    body = []
    if heading:
        body.append(rich(run(heading, weight="Bolder", color="good")))
    body += [
        rich(run(f"{incident.reference} · {severity.label if severity else incident.severity}",
                 weight="Bolder", color=severity_style(major))),
        rich(run(incident.title, size="Large", weight="Bolder"), spacing="None"),
        fact("Status", STATUS_BY_KEY[incident.status].label
             if incident.status in STATUS_BY_KEY else incident.status),
        fact("Services", ", ".join(s.name for s in incident.services) or "Not yet known"),
    ]
    holders = incident.current_roles()
    for role in org.roles:
        if role.key in holders:
            body.append(fact(role.label, holders[role.key].user.name))
        elif role.required:
            body.append(fact(role.label, "Not filled"))
    if incident.is_security:
        body.append(rich(run("Security or data breach: keep details to this channel.",
                             weight="Bolder", color="attention")))
    return card(body, [*actions, open_url("Open in Incident Desk", url)])


def incident_list(title: str, incidents: Sequence[Incident], url_of, *,
                  more: bool = False) -> dict:
    """Open incidents, each a line that opens its page."""
    body = [rich(run(title, weight="Bolder", size="Medium"))]
    for incident in incidents:
        body.append({"type": "Container", "spacing": "Small",
                     "selectAction": open_url("Open", url_of(incident.reference)),
                     "items": [rich(run(f"{incident.reference} {incident.title}",
                                        weight="Bolder")),
                               rich(run(f"{incident.severity} · "
                                        f"{STATUS_BY_KEY[incident.status].label}",
                                        isSubtle=True), spacing="None")]})
    if more:
        body.append(rich(run("More are open: see them all in Incident Desk.", isSubtle=True)))
    return card(body)
