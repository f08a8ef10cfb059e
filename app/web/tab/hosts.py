"""Who may frame the tab, and which Entra app its Teams sign-in token is for."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app

from app.m365.graph_setup import BUILT_IN
from graph.tab_sso import TabApp

# Microsoft's list of the hosts that frame Teams / Outlook / Microsoft 365 app tabs
# (https://learn.microsoft.com/microsoftteams/platform/tabs/how-to/tab-requirements):
# nothing else may frame the tab's pages.
TEAMS_FRAME_ANCESTORS = (
    "https://teams.microsoft.com", "https://*.teams.microsoft.com",
    "https://*.cloud.microsoft",
    "https://*.microsoft365.com", "https://*.office.com",
    "https://outlook.office.com", "https://outlook.office365.com",
    "https://outlook-sdf.office.com", "https://outlook-sdf.office365.com",
)


def _built_in_sandbox():
    if current_app.extensions["graph_setup"].kind != BUILT_IN:
        return None
    from app.m365.sandbox_host import sandbox_for

    return sandbox_for(current_app)


def sandbox_origin() -> str | None:
    """The built-in Graph sandbox's address, whose Teams host page frames the tab."""
    server = _built_in_sandbox()
    return server.url if server is not None else None


def frame_ancestors() -> str:
    extra = sandbox_origin()
    return " ".join((*TEAMS_FRAME_ANCESTORS, *((extra,) if extra else ())))


def tab_app() -> TabApp | None:
    """The app registration Teams issues the tab's token for: this installation's Entra
    app (the manifest's webApplicationInfo), or with no tenant the sandbox tenant's
    Incident Desk registration; None when there is neither."""
    settings = current_app.extensions["settings"]
    host = urlsplit(settings.app_base_url).hostname or ""
    if settings.entra_configured:
        return TabApp(settings.entra_tenant_id, settings.entra_client_id,
                      settings.entra_client_secret,
                      f"api://{host}/{settings.entra_client_id}",
                      settings.entra_authority_host, settings.entra_verify)
    if _built_in_sandbox() is None:
        return None
    from app.m365.sandbox_host import sandbox_entra

    entra = sandbox_entra(current_app)
    return TabApp(entra.tenant_id, entra.client_id, entra.client_secret,
                  f"api://{host}/{entra.client_id}", entra.authority_host, entra.verify)
