"""Stakeholder email for a status update: HTML with every user-written string escaped,
and recipient lists split to stay within Outlook's per-message limit."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from graph.port import MAX_MAIL_RECIPIENTS


def subject(facts: dict, phase_label: str) -> str:
    """One line: header injection is impossible and mail clients show it whole."""
    text = f"[{facts['severity_label']}] {facts['reference']} {phase_label}: {facts['title']}"
    return " ".join(text.split())[:255]


def paragraphs(text: str) -> Markup:
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return Markup("").join(
        Markup('<p style="margin:0 0 12px">{}</p>').format(
            Markup("<br>").join(escape(line) for line in block.split("\n")))
        for block in blocks
    )


def body(facts: dict, phase_label: str, message: str, author: str, url: str) -> str:
    services = ", ".join(facts["services"]) or "Not yet known"
    return str(Markup(
        '<div style="font-family:Segoe UI,Arial,sans-serif;font-size:15px;color:#0b0c0c">'
        '<p style="margin:0 0 4px;color:#505a5f">{reference} · {severity} · {phase}</p>'
        '<h1 style="font-size:20px;margin:0 0 16px">{title}</h1>'
        "{message}"
        '<table style="border-collapse:collapse;margin:16px 0;font-size:14px">'
        '<tr><th style="text-align:left;padding:2px 12px 2px 0">Services</th>'
        "<td>{services}</td></tr>"
        '<tr><th style="text-align:left;padding:2px 12px 2px 0">Sent by</th>'
        "<td>{author}</td></tr></table>"
        '<p style="margin:0"><a href="{url}">Follow this incident in Incident Desk</a></p>'
        "</div>"
    ).format(reference=facts["reference"], severity=facts["severity_label"], phase=phase_label,
             title=facts["title"], message=paragraphs(message), services=services,
             author=author, url=url))


def chunks(recipients: Sequence[str], size: int = MAX_MAIL_RECIPIENTS) -> list[list[str]]:
    return [list(recipients[i:i + size]) for i in range(0, len(recipients), size)]
