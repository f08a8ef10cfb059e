"""Response headers that keep pages from being framed, sniffed or injected into."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, g


def register(app: Flask) -> None:
    # Signing in posts a form whose answer redirects to Entra: form-action must allow the
    # configured authority (login.microsoftonline.us in US Government clouds, say).
    authority = urlsplit(app.extensions["settings"].entra_authority_host)
    sign_in_origin = f"{authority.scheme}://{authority.netloc}"

    @app.after_request
    def _headers(response):
        nonce = g.get("csp_nonce", "")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
            f"form-action 'self' {sign_in_origin}; object-src 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
