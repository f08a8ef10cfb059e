"""Stakeholder email for a status update: HTML with every user-written string escaped.
Who it is addressed to, and in how many messages, is app/m365/mail_plan.py's."""

from __future__ import annotations

from markupsafe import Markup

from app.core.email_html import paragraphs


def subject(facts: dict, phase_label: str) -> str:
    """One line: header injection is impossible and mail clients show it whole."""
    text = f"[{facts['severity_label']}] {facts['reference']} {phase_label}: {facts['title']}"
    return " ".join(text.split())[:255]


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


def people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"
