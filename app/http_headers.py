"""Response headers that keep pages from being framed, sniffed, injected into, cached
where others can read them, or fetched over plain http once seen over https."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, request, session

HSTS = "max-age=31536000; includeSubDomains"
PRIVATE = "private, no-store"
# The same static file for everyone, but its answer may carry a session cookie: only the
# person's own browser keeps it, asking again with its ETag (a 304) before using it.
PRIVATE_STATIC = "private, no-cache"


def is_personal(response) -> bool:
    """A response no shared cache may keep: for a signed-in person (their name, their
    incidents), carrying a CSRF token (tied to one session), or setting a cookie.
    The session cookie itself is written after this check, so a changed session counts."""
    csrf_field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    return bool("_user_id" in session or session.modified or csrf_field in g
                or g.get("api_user") is not None or "Set-Cookie" in response.headers)


def register(app: Flask) -> None:
    # Signing in posts a form whose answer redirects to Entra: form-action must allow the
    # configured authority (login.microsoftonline.us in US Government clouds, say).
    authority = urlsplit(app.extensions["settings"].entra_authority_host)
    sign_in_origin = f"{authority.scheme}://{authority.netloc}"

    @app.after_request
    def _headers(response):
        nonce = g.get("csp_nonce", "")
        # A page rendered once for everyone (/status) carries no per-request nonce: it
        # names its inline scripts by their hashes instead (app/web/status/cache.py).
        hashes = g.get("csp_script_hashes")
        scripts = " ".join(filter(None, ["'self'", f"'nonce-{nonce}'" if hashes is None
                                         else hashes]))
        # Only the Teams tab's routes set this (app/web/tab: Teams' own hosts); every
        # other page may be framed by no one.
        ancestors = g.get("frame_ancestors") or "'none'"
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; "
            f"connect-src 'self'; frame-ancestors {ancestors}; base-uri 'self'; "
            f"form-action 'self' {sign_in_origin}; object-src 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if ancestors == "'none'":
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        if is_personal(response):  # whatever the view asked for (/status says public)
            response.headers["Cache-Control"] = (
                PRIVATE_STATIC if request.endpoint == "static" else PRIVATE)
        elif response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:  # the socket's scheme, or ProxyFix's from a trusted proxy
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
