"""Adaptive Cards and channel HTML for incidents.

User-written text only ever goes into TextRun elements: Teams renders a TextRun as plain
text (no markdown, no HTML), and the card travels as JSON built by json.dumps, so a title
like `**urgent** <script>` shows exactly as typed. HTML message bodies escape with
markupsafe. Cards stay well under Teams' ~28 KB message limit by trimming long text.
"""

from __future__ import annotations

from markupsafe import escape

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_TEXT = 1500  # characters of free text per block; keeps a card far below 28 KB


def _trim(text: str, limit: int = MAX_TEXT) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def trimmed(text: str, limit: int = MAX_TEXT) -> bool:
    """Whether `run` cuts this text short in a card."""
    return len((text or "").strip()) > limit


def run(text: str, **style) -> dict:
    return {"type": "TextRun", "text": _trim(text), **style}


def rich(*runs: dict, **options) -> dict:
    return {"type": "RichTextBlock", "inlines": list(runs), **options}


def fact(label: str, value: str) -> dict:
    """A label and a value side by side; the value is user text, so a TextRun."""
    return {
        "type": "ColumnSet",
        "spacing": "Small",
        "columns": [
            {"type": "Column", "width": "90px",
             "items": [rich(run(label, weight="Bolder", isSubtle=True))]},
            {"type": "Column", "width": "stretch", "items": [rich(run(value or "—"))]},
        ],
    }


def card(body: list[dict], actions: list[dict] = ()) -> dict:
    content = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}
    if actions:
        content["actions"] = list(actions)
    return content


def open_url(title: str, url: str) -> dict:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def severity_style(major: bool) -> str:
    return "attention" if major else "warning"


def kickoff(incident: dict, url: str) -> dict:
    """Posted first in the incident's channel: what, how bad, who leads, where to look.

    `incident` is a plain snapshot (reference, title, severity_label, major, status_label,
    description, services, leads: [(role label, name)], is_security), so the card is
    built from what was true when declared, not from a lazily loaded ORM object.
    """
    body = [
        rich(run(f"{incident['reference']} · {incident['severity_label']}",
                 weight="Bolder", color=severity_style(incident["major"]))),
        rich(run(incident["title"], size="Large", weight="Bolder"), spacing="None"),
        fact("Status", incident["status_label"]),
        fact("Services", ", ".join(incident["services"]) or "Not yet known"),
    ]
    for role_label, name in incident["leads"]:
        body.append(fact(role_label, name))
    if incident.get("is_security"):
        body.append(rich(run("Security or data breach: keep details to this channel.",
                             weight="Bolder", color="attention")))
    if incident["description"]:
        body.append(rich(run(incident["description"]), separator=True))
    return card(body, [open_url("Open in Incident Desk", url)])


def announcement(incident: dict, url: str) -> dict:
    """The broadcast channel's notice of a major incident."""
    body = [
        rich(run(f"Major incident declared: {incident['reference']} · "
                 f"{incident['severity_label']}", weight="Bolder", color="attention")),
        rich(run(incident["title"], size="Large", weight="Bolder"), spacing="None"),
        fact("Services", ", ".join(incident["services"]) or "Not yet known"),
    ]
    for role_label, name in incident["leads"]:
        body.append(fact(role_label, name))
    return card(body, [open_url("Open in Incident Desk", url)])


def update(incident: dict, phase_label: str, message: str, author: str, url: str,
           full_url: str | None = None) -> dict:
    """A status update in the incident channel. One longer than the card shows is cut
    short, and the card says so and links to the whole update (`full_url`: its timeline
    entry on the incident page), so nobody acts on half of it."""
    body = [
        rich(run(f"Update · {phase_label}", weight="Bolder",
                 color=severity_style(incident["major"]))),
        rich(run(message), spacing="Small"),
    ]
    actions = [open_url("Open in Incident Desk", url)]
    if trimmed(message):
        body.append(rich(run("This update continues in Incident Desk: read the full update "
                             "before acting on it.", weight="Bolder"), spacing="Small"))
        actions.insert(0, open_url("Read the full update", full_url or url))
    body.append(rich(run(f"{author} · {incident['reference']} · {incident['severity_label']}",
                         isSubtle=True, size="Small"), spacing="Small"))
    return card(body, actions)


def summary_html(incident: dict) -> str:
    """The text shown above the card and in notifications."""
    return (f"<p><strong>{escape(incident['reference'])}</strong> "
            f"({escape(incident['severity_label'])}): {escape(incident['title'])}</p>")
