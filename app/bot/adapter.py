"""The Agents SDK hosted in Flask: HttpAdapterBase takes any framework's request through
a small protocol, and the bot's outbound tokens come from MSAL (the SDK's MsalAuth) at the
configured Entra, trusting the sandbox Entra's certificate when that is the authority."""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization import ClaimsIdentity, Connections
from microsoft_agents.hosting.core.http import HttpAdapterBase
from msal import ConfidentialClientApplication

from app.bot import sdk_user_agent
from app.bot.identity import BotIdentity
from graph.tokens import entra_http


class FlaskActivityRequest:
    """HttpRequestProtocol over an already-parsed body and the authenticated claims."""

    def __init__(self, headers: dict[str, str], body: dict, claims: ClaimsIdentity):
        self.method = "POST"
        self.headers = headers
        self._body, self._claims = body, claims

    async def json(self) -> dict[str, Any]:
        return self._body

    def get_claims_identity(self) -> ClaimsIdentity:
        return self._claims

    def get_path_param(self, name: str) -> str:
        return ""


class BotMsalAuth(MsalAuth):
    """The SDK's MsalAuth, but its MSAL app uses our session (the authority's CA file) and
    skips instance discovery, which a sandbox authority cannot answer."""

    def __init__(self, identity: BotIdentity):
        super().__init__(AgentAuthConfiguration(client_id=identity.app_id,
                                                tenant_id=identity.tenant_id,
                                                client_secret=identity.password,
                                                authority=identity.authority))
        self.identity = identity
        self._ready: dict[tuple, tuple[str, float]] = {}  # (resource, scopes) -> token, exp

    async def get_access_token(self, resource_url: str, scopes: list[str],
                               force_refresh: bool = False) -> str:
        """The SDK asks for the connector token at the start of every turn; MSAL's cache
        answers, but only after a hop to a worker thread of a new pool each turn. A
        token with over five minutes left is given straight from here."""
        key = (resource_url, tuple(scopes))
        cached = self._ready.get(key)
        if cached and not force_refresh and cached[1] - time.time() > TOKEN_MARGIN:
            return cached[0]
        token = await super().get_access_token(resource_url, scopes, force_refresh)
        try:
            expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            expires = 0.0  # not a JWT we can read: ask MSAL every time
        self._ready[key] = (token, expires)
        return token

    def _create_client_application(self, tenant_id: str | None = None):
        return ConfidentialClientApplication(
            self.identity.app_id, client_credential=self.identity.password,
            authority=self.identity.authority, instance_discovery=False,
            http_client=entra_http(self.identity.verify))


TOKEN_MARGIN = 300.0  # seconds: a token this close to expiry is fetched afresh
_auths: dict[BotIdentity, BotMsalAuth] = {}
_auths_lock = threading.Lock()


def auth_for(identity: BotIdentity) -> BotMsalAuth:
    """One MSAL app per bot per process, so its token cache outlives the request: a new
    one per turn rediscovered the tenant and fetched a token over TLS every time (about
    a quarter of each invoke's time)."""
    with _auths_lock:
        if identity not in _auths:
            _auths[identity] = BotMsalAuth(identity)
        return _auths[identity]


class BotConnections(Connections):
    """One connection: the bot's own app registration."""

    def __init__(self, identity: BotIdentity):
        self.provider = auth_for(identity)

    def get_connection(self, connection_name: str):
        return self.provider

    def get_default_connection(self):
        return self.provider

    def get_token_provider(self, claims_identity, service_url):
        return self.provider

    def get_default_connection_configuration(self):
        return self.provider._msal_configuration


class FlaskBotAdapter(HttpAdapterBase):
    """HttpAdapterBase with a turn error that is logged, not shown to the person."""

    def __init__(self, identity: BotIdentity, logger):
        sdk_user_agent.install()
        super().__init__(connection_manager=BotConnections(identity))

        async def on_turn_error(context, error: Exception) -> None:
            logger.exception("bot: the turn failed", exc_info=error)
            await context.send_activity("Sorry, Incident Desk could not answer that. "
                                        "Please try again.")

        self.on_turn_error = on_turn_error
