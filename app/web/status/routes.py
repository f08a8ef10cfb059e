"""The public status page (no sign-in) and its Atom feed.

Both are rendered once per change for everyone (app/web/status/cache.py) and answer
`If-None-Match` with a 304. A signed-in person's page shows their menu and sign-out form
(with its CSRF token): it is rendered for them alone and marked private, never kept.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from flask_login import current_user

from app.db import Session
from app.extensions import login_manager
from app.status import service
from app.status.versions import public_version
from app.updates.phrasing import PHASE_LABELS
from app.web.status.cache import CACHE_CONTROL, FLOOR, Rendered, RenderedOnce

bp = Blueprint("status", __name__, url_prefix="/status")
ATOM = "http://www.w3.org/2005/Atom"
PAGES = "status_pages"  # app.extensions: this process's RenderedOnce


@bp.record_once
def _keep_pages(state) -> None:
    """STATUS_PAGE_FLOOR: seconds between looks at the version (cache.FLOOR). A test app
    looks every time, so a test reads its change at once; the page is still rendered only
    when the version changes (tests/test_status_caching.py holds the floor itself)."""
    app = state.app
    app.extensions[PAGES] = RenderedOnce(
        floor=app.config.get("STATUS_PAGE_FLOOR", 0.0 if app.testing else FLOOR))


def _org():
    return current_app.extensions["org"]


def _zone():
    return current_app.extensions["installation"].timezone


def _version():
    return public_version(Session, _zone())


@bp.get("")
def page():
    if current_user.is_authenticated:
        response = current_app.make_response(_render_page(personal=True))
        response.headers["Cache-Control"] = "private, no-store"
        return response
    kept = current_app.extensions[PAGES].get(
        "page", _version, lambda: _render_page(personal=False).encode())
    # Kept for everyone, so no per-request nonce: its inline scripts go by their hashes.
    g.csp_script_hashes = kept.script_hashes
    return _shared(kept, "text/html")


def _render_page(personal: bool) -> str:
    """The page; for everyone (`personal` False) nothing of the request goes in: no
    signed-in person, no nonce, no flashed message (it stays for the person's next page)."""
    everyone = {} if personal else {
        "current_user": login_manager.anonymous_user(), "cspNonce": None,
        "get_flashed_messages": lambda *args, **kwargs: []}
    return render_template("status/page.html", view=service.view(Session, _org(), _zone()),
                           phases=PHASE_LABELS, **everyone)


def _shared(kept: Rendered, mimetype: str) -> Response:
    """The kept bytes, or a 304 for a matching If-None-Match. Public for shared caches
    unless the request is someone's (app/http_headers.py makes that private)."""
    response = Response(kept.body, mimetype=mimetype)
    response.set_etag(kept.etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.vary.add("Cookie")  # a signed-in person's /status is another page
    return response.make_conditional(request)


@bp.get("/feed.atom")
def feed():
    kept = current_app.extensions[PAGES].get("feed", _version, _render_feed)
    return _shared(kept, "application/atom+xml")


def _render_feed() -> bytes:
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
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _text(parent, tag: str, value: str):
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = value
    return element


def _epoch():
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)
