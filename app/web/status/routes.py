"""The public status page (no sign-in) and its Atom feed."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from flask import Blueprint, Response, current_app, render_template, url_for

from app.db import Session
from app.status import service
from app.updates.phrasing import PHASE_LABELS

bp = Blueprint("status", __name__, url_prefix="/status")
ATOM = "http://www.w3.org/2005/Atom"


def _org():
    return current_app.extensions["org"]


@bp.get("")
def page():
    installation = current_app.extensions["installation"]
    response = current_app.make_response(render_template(
        "status/page.html", view=service.view(Session, _org(), installation.timezone),
        phases=PHASE_LABELS))
    response.headers["Cache-Control"] = "public, max-age=30"
    return response


@bp.get("/feed.atom")
def feed():
    """Atom (RFC 4287), built with ElementTree so every text is XML-escaped."""
    base = current_app.extensions["installation"].app_base_url.rstrip("/")
    page_url = base + url_for("status.page")
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    _text(root, "title", "Service status")
    _text(root, "id", page_url)
    ET.SubElement(root, f"{{{ATOM}}}link", href=page_url, rel="alternate")
    ET.SubElement(root, f"{{{ATOM}}}link", href=base + url_for("status.feed"), rel="self")
    entries = service.feed_entries(Session, _org())
    updated = entries[0][1].created_at if entries else None
    _text(root, "updated", (updated or _epoch()).isoformat())
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    _text(author, "name", "Incident Desk")
    for item, update in entries:
        entry = ET.SubElement(root, f"{{{ATOM}}}entry")
        _text(entry, "id", f"{page_url}#update-{update.id}")
        _text(entry, "title", f"{PHASE_LABELS.get(update.phase, update.phase)}: {item.title}")
        _text(entry, "updated", update.created_at.isoformat())
        ET.SubElement(entry, f"{{{ATOM}}}link", href=f"{page_url}#incident-{item.id}")
        _text(entry, "content", update.message).set("type", "text")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, mimetype="application/atom+xml",
                    headers={"Cache-Control": "public, max-age=30"})


def _text(parent, tag: str, value: str):
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = value
    return element


def _epoch():
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)
