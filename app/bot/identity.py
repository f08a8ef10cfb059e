"""Who the bot is and whom it trusts: the configured Azure Bot, or the Graph sandbox's."""

from __future__ import annotations

from dataclasses import dataclass

from app.m365.graph_setup import BUILT_IN


@dataclass(frozen=True)
class BotIdentity:
    app_id: str
    password: str
    tenant_id: str
    openid_metadata_url: str  # where the Bot Connector's signing keys are published
    authority: str  # the Entra authority the bot gets its outbound tokens from
    verify: bool | str = True  # the sandbox Entra's certificate file


NOT_SET_UP = ("The Teams bot is not set up: set BOT_APP_ID, BOT_APP_PASSWORD and "
              "BOT_TENANT_ID (the Azure Bot's), or BOT_ENABLED=false.")


def identity_for(app) -> BotIdentity | None:
    """The bot's identity, or None when the bot is off or not set up. The sandbox's bot
    only where Microsoft 365 is the built-in sandbox and no tenant is configured: an
    installation with a real tenant trusts no Bot Connector until it names its bot."""
    settings = app.extensions["settings"]
    if not settings.bot_enabled:
        return None
    if settings.bot_tenant_id:
        if not (settings.bot_app_id and settings.bot_app_password):
            return None
        return BotIdentity(settings.bot_app_id, settings.bot_app_password,
                           settings.bot_tenant_id, settings.bot_openid_metadata_url,
                           f"{settings.entra_authority_host.rstrip('/')}/"
                           f"{settings.bot_tenant_id}", settings.entra_verify)
    if settings.entra_tenant_id or app.extensions["graph_setup"].kind != BUILT_IN:
        return None
    from app.m365.sandbox_host import sandbox_for
    from graph.sandbox.seed import BOT_APP_ID, BOT_APP_PASSWORD
    from graph.sandbox.wire import TENANT_ID

    server = sandbox_for(app)
    return BotIdentity(settings.bot_app_id or BOT_APP_ID,
                       settings.bot_app_password or BOT_APP_PASSWORD, TENANT_ID,
                       f"{server.url}/v1/.well-known/openidconfiguration",
                       f"{server.authority_host}/{TENANT_ID}", server.ca_file)
