"""Which bot and Entra app this installation's Teams app names, from the settings: the
configured Azure Bot, or the Graph sandbox's bot where app/bot trusts it (the built-in
sandbox, no tenant) and nowhere else."""

from __future__ import annotations

from app.teams_app.manifest import AppIdentity


class NotReady(Exception):
    """The package cannot be built yet; the message says which setting is missing."""


def identity_from(settings, built_in_sandbox: bool) -> AppIdentity:
    """`built_in_sandbox`: Microsoft 365 is the built-in Graph sandbox (graph_setup)."""
    if not settings.bot_enabled:
        raise NotReady("The Teams bot is turned off (BOT_ENABLED=false), and the Teams app "
                       "is the bot. Turn it on to build the package.")
    if settings.bot_tenant_id:
        if not settings.bot_app_id:
            raise NotReady("BOT_TENANT_ID is set but BOT_APP_ID is not: set it to the Azure "
                           "Bot's Microsoft App ID.")
        bot_id, tenant_id = settings.bot_app_id, settings.bot_tenant_id
    elif settings.entra_tenant_id or not built_in_sandbox:
        raise NotReady("The Teams bot is not set up: set BOT_APP_ID, BOT_APP_PASSWORD and "
                       "BOT_TENANT_ID (the Azure Bot's), as the bot itself needs.")
    else:
        # Loaded only when the sandbox stands in, as everywhere in app/ (graph_setup).
        from graph.sandbox.seed import BOT_APP_ID as SANDBOX_BOT_APP_ID

        bot_id, tenant_id = settings.bot_app_id or SANDBOX_BOT_APP_ID, None
    # The RSC grants go to the app that calls Graph with its own token: Incident Desk's
    # Entra app. The sandbox's has no GUID id, so there the bot's registration stands in.
    entra_id = settings.entra_client_id if settings.entra_configured else bot_id
    return AppIdentity(base_url=settings.app_base_url, bot_app_id=bot_id,
                       entra_app_id=entra_id, tenant_id=tenant_id or settings.entra_tenant_id,
                       organisation_name=settings.organisation_name)
