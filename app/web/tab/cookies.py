"""The tab's own session cookie.

Inside Teams the tab is a third-party frame (teams.microsoft.com framing this site), where
browsers send only cookies marked SameSite=None; Secure. Rather than loosen the one
session cookie everywhere, the tab's routes (/tab/...) use a cookie of their own:
SameSite=None; Secure; Partitioned (CHIPS: kept per top-level site, so the sign-in made
inside Teams lives only inside Teams), with Path=/tab so no other page ever reads it. The
rest of the site keeps its SameSite=Lax cookie, and neither session can be used for the
other. CSRF tokens stay on every form: they live in whichever session the page has.
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

TAB_PREFIX = "/tab/"
TAB_COOKIE = "incident_desk_tab_session"


def in_tab() -> bool:
    """Whether this request is one of the tab's (a framed page, its forms, its sign-in)."""
    try:
        return request.path.startswith(TAB_PREFIX)
    except RuntimeError:  # outside a request
        return False


class TabSessionInterface(SecureCookieSessionInterface):
    def get_cookie_name(self, app: Flask) -> str:
        return TAB_COOKIE if in_tab() else super().get_cookie_name(app)

    def get_cookie_path(self, app: Flask) -> str:
        return TAB_PREFIX.rstrip("/") if in_tab() else super().get_cookie_path(app)

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if in_tab() else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        return True if in_tab() else super().get_cookie_secure(app)

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return True if in_tab() else super().get_cookie_partitioned(app)
