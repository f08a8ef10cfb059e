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
from app.m365 import plans
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


def entra_app(app: Flask):
    """Where tokens come from: the configured tenant's app registration, or with none
    the built-in sandbox tenant's (the same MSAL flows, against the sandbox's Entra).
    None for a standalone sandbox named by GRAPH_BASE_URL without a tenant, whose own
    dev sign-in (POST /_sandbox/token) hands out tokens instead."""
    from app.m365.sandbox_host import EntraApp, sandbox_entra

    settings = app.extensions["settings"]
    if settings.entra_configured:
        return EntraApp(settings.entra_tenant_id, settings.entra_client_id,
                        settings.entra_client_secret, settings.entra_authority_host,
                        settings.entra_verify)
    if settings.graph_sandboxed:
        return sandbox_entra(app)
    return None


def make_graph_for(app: Flask) -> Callable[[Delivery], Graph]:
    """The app's default: a GraphClient per delivery with the right token."""
    settings = app.extensions["settings"]
    installation = app.extensions["installation"]
    as_app = make_graph_for_app(app)

    def graph_for(delivery: Delivery) -> Graph:
        from graph.client import GraphClient  # msgraph is large: only load it to use it

        if delivery.payload.get("as_app"):  # work the app's own permissions allow
            return as_app()
        base = graph_base_url(app)
        mailbox = delivery.payload.get("mailbox")
        entra = entra_app(app)
        if entra is None:
            return GraphClient(base, _standalone_sandbox_token(base, delivery, installation))
        if mailbox:  # the shared mailbox: the app's own token (RBAC for Applications)
            return GraphClient(base, _app_token(entra))
        if settings.graph_sandboxed and installation.service_account:
            _sandbox_service_account(app, installation.service_account)
        person = (None if _as_owner(delivery, installation) else delivery.actor) or \
            _service_account(installation.service_account)
        return GraphClient(base, _user_token(entra, settings.secret_key, delivery, person,
                                             installation.service_account))

    return graph_for


def _standalone_sandbox_token(base: str, delivery: Delivery, installation):
    from graph.port import TokenUnavailable
    from graph.tokens import sandbox_app_token, sandbox_token

    if delivery.payload.get("mailbox"):
        return sandbox_app_token(base, shared=True)
    who = installation.service_account if _as_owner(delivery, installation) else (
        delivery.actor.email if delivery.actor else installation.service_account)
    if not who:
        raise TokenUnavailable("Nobody's Microsoft 365 sign-in is available for this work. "
                               "Set M365_SERVICE_ACCOUNT.")
    return sandbox_token(base, who, shared=True)


def _sandbox_service_account(app: Flask, email: str) -> None:
    """The sandbox tenant's service account signs in once, as the README asks of an
    administrator: work with nobody behind it then has a sign-in to act with."""
    from app.m365.sandbox_host import sign_in

    existing = _service_account(email)
    secret = app.extensions["settings"].secret_key
    if existing is not None and auth_service.load_token_cache(Session, existing, secret):
        return
    who = sign_in(app, email, "Incident Desk service account")
    user = auth_service.upsert_user(Session, object_id=who.object_id,
                                    tenant_id=who.tenant_id, name=who.name, email=email,
                                    admin=False)
    auth_service.save_token_cache(Session, user, who.token_cache, secret)


def _as_owner(delivery: Delivery, installation) -> bool:
    """Adding someone to the team takes a team owner, and adding to or removing from a
    private channel one of its owners (Graph answers 403 to anyone else): the service
    account, which the README has administrators make a team owner and which co-owns every
    private channel it makes. Without one, the work is tried as the person who asked."""
    return bool(installation.service_account) and delivery.kind in (
        plans.ADD_MEMBER, plans.ADD_CHANNEL_MEMBER, plans.REMOVE_CHANNEL_MEMBER)


def make_graph_for_app(app: Flask) -> Callable[[], Graph]:
    """Graph as the app itself, for reads nobody in particular asked for (contact sync)."""

    def graph_for_app() -> Graph:
        from graph.client import GraphClient
        from graph.tokens import sandbox_app_token

        base = graph_base_url(app)
        entra = entra_app(app)
        if entra is None:
            return GraphClient(base, sandbox_app_token(base, shared=True))
        return GraphClient(base, _app_token(entra))

    return graph_for_app


def _app_token(entra):
    from graph.tokens import app_only_token

    return app_only_token(entra.tenant_id, entra.client_id, entra.client_secret,
                          entra.authority_host, verify=entra.verify)


def _service_account(email: str | None) -> User | None:
    if not email:
        return None
    return Session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def _user_token(entra, secret: str, delivery: Delivery, person: User | None,
                service_account: str | None):
    from graph.tokens import DELEGATED_SCOPES, user_token

    person, cache = _signed_in(delivery, person, service_account, secret)

    def save(serialized: str, who: User = person) -> None:
        auth_service.save_token_cache(Session, who, serialized, secret)

    return user_token(entra.tenant_id, entra.client_id, entra.client_secret,
                      entra.authority_host, cache, person.entra_oid, DELEGATED_SCOPES, save,
                      verify=entra.verify)


def _organiser_keyed(delivery: Delivery) -> bool:
    """Work Graph keys within the acting person's own calendar or mailbox: createOrGet's
    externalId is unique per organiser (https://learn.microsoft.com/graph/api/
    onlinemeeting-createorget), an event's transactionId and a draft live in their
    mailbox. A retry acting as someone else finds nothing and makes a second one."""
    return delivery.kind in (plans.MEETING, plans.EVENT, plans.MAIL)


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

        url = app.extensions["installation"].teams_webhook_url
        if not url:
            from graph.port import InvalidRequest

            raise InvalidRequest("No Teams webhook is configured (M365_TEAMS_WEBHOOK_URL).")
        post_card(url, card)

    return post
