"""This installation of Incident Desk, resolved once from settings: its address and time
zone, its security contacts, and where in Microsoft 365 things go."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Installation:
    """Read by services to word and date what they publish, and by app/m365 to place it."""

    app_base_url: str
    timezone: ZoneInfo
    team_id: str | None = None
    broadcast_channel_id: str | None = None
    mail_from: str | None = None
    teams_webhook_url: str | None = None
    service_account: str | None = None
    contacts_site_id: str | None = None
    contacts_list_id: str | None = None
    reports_drive_id: str | None = None
    reports_folder: str = "Incident reports"
    security_reports_folder: str | None = None
    report_template_path: str | None = None
    security_emails: frozenset[str] = frozenset()

    def incident_url(self, reference: str) -> str:
        return f"{self.app_base_url.rstrip('/')}/incidents/{reference}"

    @property
    def teams_enabled(self) -> bool:
        return bool(self.team_id)

    def reports_folder_for(self, is_security: bool) -> str | None:
        """Where an incident's reports go in SharePoint; None keeps them out of it.

        Security incidents are private, so their reports never go to the shared folder:
        only to a separately configured (restricted) one."""
        if not self.reports_drive_id:
            return None
        return self.security_reports_folder if is_security else self.reports_folder


def from_settings(settings, **sandbox_defaults) -> Installation:
    """Settings win; the sandbox fills in what a real tenant would have configured."""

    def pick(name: str, setting):
        return setting if setting else sandbox_defaults.get(name)

    return Installation(
        app_base_url=settings.app_base_url,
        timezone=ZoneInfo(settings.timezone),
        team_id=pick("team_id", settings.teams_team_id),
        broadcast_channel_id=pick("broadcast_channel_id", settings.teams_broadcast_channel_id),
        mail_from=pick("mail_from", settings.mail_from),
        teams_webhook_url=settings.teams_webhook_url,
        service_account=pick("service_account", settings.service_account),
        contacts_site_id=pick("contacts_site_id", settings.contacts_site_id),
        contacts_list_id=pick("contacts_list_id", settings.contacts_list_id),
        reports_drive_id=pick("reports_drive_id", settings.reports_drive_id),
        reports_folder=settings.reports_folder,
        security_reports_folder=settings.security_reports_folder,
        report_template_path=settings.report_template_path,
        security_emails=settings.security_emails,
    )
