"""Where in Microsoft 365 things go, resolved once from settings."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Targets:
    app_base_url: str
    timezone: ZoneInfo
    team_id: str | None = None
    broadcast_channel_id: str | None = None
    mail_from: str | None = None
    service_account: str | None = None
    contacts_site_id: str | None = None
    contacts_list_id: str | None = None
    reports_drive_id: str | None = None
    reports_folder: str = "Incident reports"

    def incident_url(self, reference: str) -> str:
        return f"{self.app_base_url.rstrip('/')}/incidents/{reference}"

    @property
    def teams_enabled(self) -> bool:
        return bool(self.team_id)


def from_settings(settings, **sandbox_defaults) -> Targets:
    """Settings win; the sandbox fills in what a real tenant would have configured."""

    def pick(name: str, setting):
        return setting if setting else sandbox_defaults.get(name)

    return Targets(
        app_base_url=settings.app_base_url,
        timezone=ZoneInfo(settings.timezone),
        team_id=pick("team_id", settings.teams_team_id),
        broadcast_channel_id=pick("broadcast_channel_id", settings.teams_broadcast_channel_id),
        mail_from=pick("mail_from", settings.mail_from),
        service_account=pick("service_account", settings.service_account),
        contacts_site_id=pick("contacts_site_id", settings.contacts_site_id),
        contacts_list_id=pick("contacts_list_id", settings.contacts_list_id),
        reports_drive_id=pick("reports_drive_id", settings.reports_drive_id),
        reports_folder=settings.reports_folder,
    )
