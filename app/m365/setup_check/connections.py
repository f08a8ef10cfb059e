"""The tokens the check tries, one per way Incident Desk reaches Microsoft 365 (as
app/m365/connect.py picks them for real work): the app's own (client credentials), a
person's delegated token (their stored sign-in, refreshed), and the sandbox's sign-in
when no tenant is configured. Each request the check makes has `timeout` seconds.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from app.auth import service as auth_service
from app.auth.models import User
from app.db import Session
from app.m365.connect import graph_base_url
from graph.port import Graph, TokenUnavailable


def sandboxed(app: Flask) -> bool:
    """No Entra tenant configured: tokens come from the sandbox's own sign-in."""
    settings = app.extensions["settings"]
    return settings.graph_sandboxed or not settings.entra_configured


def where(app: Flask) -> str:
    settings = app.extensions["settings"]
    if settings.graph_sandboxed:
        return "the built-in Graph sandbox"
    standalone = app.extensions["graph_setup"].standalone
    if not settings.entra_configured:
        return f"the Graph sandbox at {graph_base_url(app)}"
    graph = "the Graph sandbox" if standalone else "Microsoft Graph"
    return f"Entra tenant {settings.entra_tenant_id}, {graph} at {graph_base_url(app)}"


def client(app: Flask, token: Callable[[], str], timeout: float) -> Graph:
    from graph.client import GraphClient  # msgraph is large: only load it to use it

    return GraphClient(graph_base_url(app), token, timeout=timeout)


def app_token(app: Flask, timeout: float) -> Callable[[], str]:
    from graph.tokens import app_only_token, sandbox_app_token

    settings = app.extensions["settings"]
    if sandboxed(app):
        return sandbox_app_token(graph_base_url(app))
    return app_only_token(settings.entra_tenant_id, settings.entra_client_id,
                          settings.entra_client_secret, settings.entra_authority_host,
                          verify=settings.entra_verify, timeout=timeout)


def person(email: str) -> User | None:
    return Session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def person_token(app: Flask, email: str, timeout: float) -> Callable[[], str]:
    """A person's delegated token; TokenUnavailable says why there is none."""
    from graph.tokens import DELEGATED_SCOPES, sandbox_token, user_token

    settings = app.extensions["settings"]
    if sandboxed(app):
        return sandbox_token(graph_base_url(app), email)
    user = person(email)
    if user is None:
        raise TokenUnavailable(f"{email} has never signed in to Incident Desk.")
    cache = auth_service.load_token_cache(Session, user, settings.secret_key)
    if not cache:
        raise TokenUnavailable(f"No sign-in is stored for {email} (they signed out, or "
                               "SECRET_KEY has changed since).")

    def save(serialized: str) -> None:
        auth_service.save_token_cache(Session, user, serialized, settings.secret_key)

    return user_token(settings.entra_tenant_id, settings.entra_client_id,
                      settings.entra_client_secret, settings.entra_authority_host, cache,
                      user.entra_oid, DELEGATED_SCOPES, save, verify=settings.entra_verify,
                      timeout=timeout)
