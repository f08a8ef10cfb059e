"""Which Graph, as whom: the sandbox or the tenant; a person's token or the service's.

Channel posts need a delegated token (Teams allows app-only posting only for imports),
so a delivery acts as the person who caused it, from their server-side MSAL cache. Work
with nobody behind it uses the configured service account's cache. Mail from a shared
mailbox uses the app's own (application) token.

A delivery whose payload says `as_app` (archiving and unarchiving channels:
ChannelSettings.ReadWrite.All is granted as an application permission) uses the app's
own token too, so it needs nobody's sign-in.
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

REAL_GRAPH = "https://graph.microsoft.com/v1.0"
ACTING_AS = "acting_as"  # a delivery's progress: the user id its first attempt acted as


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
    as_app = make_graph_for_app(app)

    def graph_for(delivery: Delivery) -> Graph:
        from graph.client import GraphClient  # msgraph is large: only load it to use it

        if delivery.payload.get("as_app"):  # work the app's own permissions allow
            return as_app()
        base = graph_base_url(app)
        mailbox = delivery.payload.get("mailbox")
        if settings.graph_sandboxed or not settings.entra_configured:
            from graph.tokens import sandbox_app_token, sandbox_token

            if mailbox:  # the shared mailbox: the app's own token, as with a tenant
                return GraphClient(base, sandbox_app_token(base))
            who = targets.service_account if _needs_an_owner(delivery) else (
                delivery.actor.email if delivery.actor else targets.service_account)
            if not who:
                from graph.port import TokenUnavailable

                raise TokenUnavailable("Nobody's Microsoft 365 sign-in is available for "
                                       "this work. Set M365_SERVICE_ACCOUNT.")
            return GraphClient(base, sandbox_token(base, who))
        if mailbox:
            return GraphClient(base, _app_token(settings))
        person = (None if _needs_an_owner(delivery) else delivery.actor) or \
            _service_account(targets.service_account)
        return GraphClient(base, _user_token(settings, delivery, person,
                                             targets.service_account))

    return graph_for


def _needs_an_owner(delivery: Delivery) -> bool:
    """Adding someone to the team takes a team owner (Graph answers 403 to anyone else):
    that is the service account, which the README has administrators make an owner."""
    from app.m365 import plans

    return delivery.kind == plans.ADD_MEMBER


def make_graph_for_app(app: Flask) -> Callable[[], Graph]:
    """Graph as the app itself, for reads nobody in particular asked for (contact sync)."""
    settings = app.extensions["settings"]

    def graph_for_app() -> Graph:
        from graph.client import GraphClient

        if settings.graph_sandboxed or not settings.entra_configured:
            from graph.tokens import sandbox_app_token

            base = graph_base_url(app)
            return GraphClient(base, sandbox_app_token(base))
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


def _user_token(settings, delivery: Delivery, person: User | None,
                service_account: str | None):
    from graph.tokens import DELEGATED_SCOPES, user_token

    secret = settings.secret_key
    person, cache = _signed_in(delivery, person, service_account, secret)

    def save(serialized: str, who: User = person) -> None:
        auth_service.save_token_cache(Session, who, serialized, secret)

    return user_token(settings.entra_tenant_id, settings.entra_client_id,
                      settings.entra_client_secret, settings.entra_authority_host,
                      cache, person.entra_oid, DELEGATED_SCOPES, save)


def _organiser_keyed(delivery: Delivery) -> bool:
    """Work Graph keys within the acting person's own calendar or mailbox: createOrGet's
    externalId is unique per organiser (https://learn.microsoft.com/graph/api/
    onlinemeeting-createorget), an event's transactionId and a draft live in their
    mailbox. A retry acting as someone else finds nothing and makes a second one."""
    from app.m365 import plans

    return delivery.kind in (plans.MEETING, plans.EVENT, "mail.send")


def _signed_in(delivery: Delivery, person: User | None, service_account: str | None,
               secret: str) -> tuple[User, str]:
    """Whose stored sign-in the delivery acts with, and its cache: the person's, else the
    service account's. Organiser-keyed work records whom its first attempt acted as
    (ACTING_AS in its progress, committed by the runner before Graph is called) and acts
    only as them from then on, asking them to sign in rather than switching."""
    from graph.port import TokenUnavailable

    pinned = delivery.progress.get(ACTING_AS) if _organiser_keyed(delivery) else None
    if pinned is not None:
        return _pinned(Session.get(User, pinned), secret)
    if person is None:
        raise TokenUnavailable(
            "Nobody's Microsoft 365 sign-in is available for this work. Set "
            "M365_SERVICE_ACCOUNT and have that account sign in to Incident Desk once.")
    cache = auth_service.load_token_cache(Session, person, secret)
    if not cache:
        fallback = _service_account(service_account)
        if fallback is None or fallback.id == person.id:
            raise TokenUnavailable(
                f"{person.name} needs to sign in to Incident Desk again so it can act in "
                "Microsoft 365 for them.")
        person, cache = fallback, auth_service.load_token_cache(Session, fallback, secret)
    if _organiser_keyed(delivery):
        delivery.progress = {**delivery.progress, ACTING_AS: person.id}
    return person, cache


def _pinned(person: User | None, secret: str) -> tuple[User, str]:
    """The one person a retried meeting, event or email may act as."""
    from graph.port import TokenUnavailable

    cache = auth_service.load_token_cache(Session, person, secret) if person else None
    if not cache:
        who = person.name if person else "The person it was first sent as"
        raise TokenUnavailable(
            f"{who} needs to sign in to Incident Desk again: this was first sent to "
            "Microsoft 365 as them, and sending it as anyone else would make a second "
            "one. Once they have signed in, press Try again.")
    return person, cache


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
