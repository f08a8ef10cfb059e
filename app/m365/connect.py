"""Which Graph, as whom: the sandbox or the tenant; a person's token or the service's.

Channel posts need a delegated token (Teams allows app-only posting only for imports),
so a delivery acts as the person who caused it, from their server-side MSAL cache. Work
with nobody behind it uses the configured service account's cache. Mail from a shared
mailbox uses the app's own (application) token.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from app.auth import service as auth_service
from app.auth.models import User
from app.db import Session
from app.outbox.models import Delivery
from graph.port import Graph

GRAPH_SCOPES = ("https://graph.microsoft.com/.default",)
REAL_GRAPH = "https://graph.microsoft.com/v1.0"


def graph_base_url(app: Flask) -> str:
    settings = app.extensions["settings"]
    if settings.graph_base_url:
        return settings.graph_base_url.rstrip("/")
    if settings.graph_sandboxed:
        from app.m365.sandbox_host import sandbox_for

        return sandbox_for(app).graph_base_url
    return REAL_GRAPH


def make_graph_for(app: Flask) -> Callable[[Delivery], Graph]:
    """The app's default: a GraphClient per delivery with the right token."""
    settings = app.extensions["settings"]
    targets = app.extensions["targets"]

    def graph_for(delivery: Delivery) -> Graph:
        from graph.client import GraphClient  # msgraph is large: only load it to use it

        base = graph_base_url(app)
        mailbox = delivery.payload.get("mailbox")
        if settings.graph_sandboxed or not settings.entra_configured:
            from graph.tokens import sandbox_token

            who = delivery.actor.email if delivery.actor else (
                mailbox or targets.service_account or "incident-desk")
            return GraphClient(base, sandbox_token(who))
        if mailbox:
            return GraphClient(base, _app_token(settings))
        person = delivery.actor or _service_account(targets.service_account)
        return GraphClient(base, _user_token(settings, person, targets.service_account))

    return graph_for


def make_graph_for_app(app: Flask) -> Callable[[], Graph]:
    """Graph as the app itself, for reads nobody in particular asked for (contact sync)."""
    settings = app.extensions["settings"]

    def graph_for_app() -> Graph:
        from graph.client import GraphClient

        if settings.graph_sandboxed or not settings.entra_configured:
            from graph.tokens import sandbox_token

            return GraphClient(graph_base_url(app), sandbox_token("incident-desk"))
        return GraphClient(graph_base_url(app), _app_token(settings))

    return graph_for_app


def _app_token(settings):
    from graph.tokens import app_only_token

    return app_only_token(settings.entra_tenant_id, settings.entra_client_id,
                          settings.entra_client_secret, settings.entra_authority_host)


def _service_account(email: str | None) -> User | None:
    if not email:
        return None
    return Session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def _user_token(settings, person: User | None, service_account: str | None):
    from graph.port import TokenUnavailable
    from graph.tokens import user_token

    if person is None:
        raise TokenUnavailable(
            "Nobody's Microsoft 365 sign-in is available for this work. Set "
            "M365_SERVICE_ACCOUNT and have that account sign in to Incident Desk once.")
    secret = settings.secret_key
    cache = auth_service.load_token_cache(Session, person, secret)
    if not cache:
        fallback = _service_account(service_account)
        if fallback is None or fallback.id == person.id:
            raise TokenUnavailable(
                f"{person.name} needs to sign in to Incident Desk again so it can act in "
                "Microsoft 365 for them.")
        person, cache = fallback, auth_service.load_token_cache(Session, fallback, secret)

    def save(serialized: str, who: User = person) -> None:
        auth_service.save_token_cache(Session, who, serialized, secret)

    return user_token(settings.entra_tenant_id, settings.entra_client_id,
                      settings.entra_client_secret, settings.entra_authority_host,
                      cache, person.entra_oid, GRAPH_SCOPES, save)


def make_teams_webhook(app: Flask) -> Callable[[dict], None]:
    """Posting a card through the configured Teams Workflows webhook."""

    def post(card: dict) -> None:
        from graph.webhook import post_card

        url = app.extensions["targets"].teams_webhook_url
        if not url:
            from graph.port import InvalidRequest

            raise InvalidRequest("No Teams webhook is configured (M365_TEAMS_WEBHOOK_URL).")
        post_card(url, card)

    return post
