"""Configuration from environment variables, with defaults that run on a laptop."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

INSTANCE_DIR = Path(os.environ.get("INCIDENT_DESK_INSTANCE", Path.cwd() / "instance"))


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_count(name: str, default: int = 0) -> int:
    value = (os.environ.get(name) or "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number (0 or more), not {value!r}")
    return int(value)


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _secret_key() -> str:
    """A stable dev key kept in instance/ so sessions survive restarts.

    Production sets SECRET_KEY.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Settings:
    """Everything the app reads from the environment, in one place."""

    secret_key: str = field(default_factory=_secret_key)
    database_url: str = field(
        default_factory=lambda: os.environ.get(
            "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'incident-desk.db'}"
        )
    )
    redis_url: str | None = field(default_factory=lambda: os.environ.get("REDIS_URL") or None)
    entra_tenant_id: str | None = field(
        default_factory=lambda: os.environ.get("ENTRA_TENANT_ID") or None
    )
    entra_client_id: str | None = field(
        default_factory=lambda: os.environ.get("ENTRA_CLIENT_ID") or None
    )
    entra_client_secret: str | None = field(
        default_factory=lambda: os.environ.get("ENTRA_CLIENT_SECRET") or None
    )
    entra_authority_host: str = field(
        default_factory=lambda: os.environ.get("ENTRA_AUTHORITY_HOST")
        or "https://login.microsoftonline.com"
    )
    # A CA file to trust for Entra's address only (the MSAL session; a standalone Graph
    # sandbox's TLS Entra prints its file). Unset: the system's trusted CAs.
    entra_ca_bundle: str | None = field(default_factory=lambda: _env("ENTRA_CA_BUNDLE"))
    # Whose tenant members count as admins of Incident Desk (comma-separated emails).
    admin_emails: frozenset[str] = field(
        default_factory=lambda: frozenset(
            e.strip().lower() for e in os.environ.get("ADMIN_EMAILS", "").split(",") if e.strip()
        )
    )
    # The security team: they see every security incident and are told of each at once.
    security_emails: frozenset[str] = field(
        default_factory=lambda: frozenset(
            e.strip().lower() for e in os.environ.get("SECURITY_EMAILS", "").split(",")
            if e.strip()
        )
    )
    org_config_path: str | None = field(
        default_factory=lambda: os.environ.get("INCIDENT_DESK_ORG_CONFIG") or None
    )
    severity_scale: str = field(
        default_factory=lambda: os.environ.get("INCIDENT_DESK_SEVERITY_SCALE", "p123")
    )
    timezone: str = field(default_factory=lambda: os.environ.get("TIMEZONE", "Europe/London"))
    # Outside these hours (Monday to Friday) only major incidents remind and page people.
    working_hours: str = field(
        default_factory=lambda: os.environ.get("WORKING_HOURS", "10:00-18:00"))
    secure_cookies: bool = field(default_factory=lambda: _env_bool("SECURE_COOKIES", False))
    # Dev sign-in (type any name, tick "administrator") only when asked for, as `make run`
    # does, and never with a tenant: an installation forgetting a setting stays closed.
    dev_sign_in: bool = field(default_factory=lambda: _env_bool("DEV_SIGN_IN", False))
    # An API token stops working while its owner has not signed in for this many days.
    api_token_sign_in_days: int = field(
        default_factory=lambda: _env_count("API_TOKEN_SIGN_IN_DAYS", 30))
    # How many reverse proxies (TLS terminators, load balancers) stand in front: their
    # X-Forwarded-For/-Proto/-Host/-Port are believed, so links and the sign-in redirect
    # say https://your-host. 0 believes none (a client could forge them).
    trusted_proxies: int = field(default_factory=lambda: _env_count("TRUSTED_PROXIES"))
    # Where links in Teams cards and emails point (jobs have no request to build URLs from).
    app_base_url: str = field(
        default_factory=lambda: os.environ.get("APP_BASE_URL", "http://127.0.0.1:5000")
    )
    # The Teams bot (app/bot, POST /api/messages). Without BOT_TENANT_ID it is the Graph
    # sandbox's bot (graph/sandbox/seed.py) and trusts the sandbox's Bot Connector.
    bot_enabled: bool = field(default_factory=lambda: _env_bool("BOT_ENABLED", True))
    bot_app_id: str | None = field(default_factory=lambda: _env("BOT_APP_ID"))
    bot_app_password: str | None = field(default_factory=lambda: _env("BOT_APP_PASSWORD"))
    bot_tenant_id: str | None = field(default_factory=lambda: _env("BOT_TENANT_ID"))
    bot_openid_metadata_url: str = field(
        default_factory=lambda: _env("BOT_OPENID_METADATA_URL")
        or "https://login.botframework.com/v1/.well-known/openidconfiguration")
    # Microsoft Graph: the real service once a tenant is configured, else the local sandbox.
    graph_base_url: str | None = field(
        default_factory=lambda: os.environ.get("GRAPH_BASE_URL") or None
    )
    graph_sandbox_db: str = field(
        default_factory=lambda: os.environ.get(
            "GRAPH_SANDBOX_DB", str(INSTANCE_DIR / "graph-sandbox.db")
        )
    )
    # At start-up, ask a GRAPH_BASE_URL that is not Microsoft's for the sandbox's ids, and
    # refuse to start when Microsoft 365 ids are missing (app/m365/graph_setup.py). Off
    # (GRAPH_START_CHECK=false): ids left unset stay unset and their features off, as
    # tests and benchmarks with a deliberately unreachable GRAPH_BASE_URL want.
    graph_start_check: bool = field(
        default_factory=lambda: _env_bool("GRAPH_START_CHECK", True))
    teams_team_id: str | None = field(default_factory=lambda: _env("M365_TEAM_ID"))
    teams_broadcast_channel_id: str | None = field(
        default_factory=lambda: _env("M365_BROADCAST_CHANNEL_ID")
    )
    # Stakeholder email comes from this shared mailbox; unset, it is sent as the person.
    mail_from: str | None = field(default_factory=lambda: _env("M365_MAIL_FROM"))
    # Work with nobody behind it (alerts, reminders) acts as this account.
    service_account: str | None = field(default_factory=lambda: _env("M365_SERVICE_ACCOUNT"))
    # A Teams Workflows webhook into the broadcast channel: announcements then need nobody's
    # Microsoft sign-in (incidents opened by alerts, lapsed sign-ins).
    teams_webhook_url: str | None = field(
        default_factory=lambda: _env("M365_TEAMS_WEBHOOK_URL"))
    contacts_site_id: str | None = field(default_factory=lambda: _env("M365_CONTACTS_SITE_ID"))
    contacts_list_id: str | None = field(default_factory=lambda: _env("M365_CONTACTS_LIST_ID"))
    # SharePoint column names, e.g. "name=Title,email=EmailAddress" (see app/contacts).
    contacts_fields: str | None = field(default_factory=lambda: _env("M365_CONTACTS_FIELDS"))
    reports_drive_id: str | None = field(default_factory=lambda: _env("M365_REPORTS_DRIVE_ID"))
    # Re-queue outbox work left behind by restarts or Redis outages (python -m app.cron does this
    # in production; in-process jobs run it on a timer).
    background_sweep: bool = field(default_factory=lambda: _env_bool("BACKGROUND_SWEEP", True))
    reports_folder: str = field(
        default_factory=lambda: os.environ.get("M365_REPORTS_FOLDER", "Incident reports")
    )
    # Days after an incident is closed before its Teams channel is archived (read-only,
    # kept with its messages; reopening the incident unarchives it). 0: never archive.
    archive_channels_after_days: int = field(
        default_factory=lambda: _env_count("M365_ARCHIVE_CHANNELS_AFTER", 7))
    # Security incidents' reports go only to this (restricted) folder; unset, they are not
    # put in SharePoint at all and can only be downloaded by the people allowed to see them.
    security_reports_folder: str | None = field(
        default_factory=lambda: _env("M365_SECURITY_REPORTS_FOLDER"))
    # Shown on reports' cover pages and footers.
    organisation_name: str = field(
        default_factory=lambda: os.environ.get("ORGANISATION_NAME", ""))
    # The organisation's report template: a .docx path in the reports library.
    report_template_path: str | None = field(
        default_factory=lambda: _env("M365_REPORT_TEMPLATE"))
    # How many incidents one alert source may open in an hour (a source may set its own);
    # alerts beyond it are grouped into one incident for that source.
    alert_incidents_per_hour: int = field(
        default_factory=lambda: _env_count("ALERT_INCIDENTS_PER_HOUR", 5))

    def __post_init__(self) -> None:
        if isinstance(self.archive_channels_after_days, bool) or not isinstance(
                self.archive_channels_after_days, int) or self.archive_channels_after_days < 0:
            raise ValueError("M365_ARCHIVE_CHANNELS_AFTER must be a whole number of days (0 "
                             f"or more), not {self.archive_channels_after_days!r}")
        parts = urlsplit(self.entra_authority_host)
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError(
                "ENTRA_AUTHORITY_HOST must be an https:// address such as "
                f"https://login.microsoftonline.com, not {self.entra_authority_host!r}")

        _refuse_partial_entra(self)
        if self.entra_ca_bundle and not os.path.isfile(self.entra_ca_bundle):
            raise ValueError(f"ENTRA_CA_BUNDLE must name a readable CA file (PEM), not "
                             f"{self.entra_ca_bundle!r}: no such file")

    @property
    def entra_verify(self) -> bool | str:
        """What the MSAL session checks Entra's certificate against."""
        return self.entra_ca_bundle or True

    @property
    def entra_configured(self) -> bool:
        return bool(self.entra_tenant_id and self.entra_client_id and self.entra_client_secret)

    @property
    def cookies_secure(self) -> bool:
        """Cookies only over https: asked for (SECURE_COOKIES), or implied by a real tenant
        (Entra sends people back to an https address) or an https APP_BASE_URL."""
        return (self.secure_cookies or self.entra_configured
                or urlsplit(self.app_base_url).scheme == "https")

    @property
    def graph_sandboxed(self) -> bool:
        """No tenant and no explicit Graph URL: talk to the built-in sandbox."""
        return not self.entra_configured and not self.graph_base_url

    @property
    def dev_sign_in_allowed(self) -> bool:
        """Dev sign-in exists only when DEV_SIGN_IN asks for it and no tenant is set."""
        return self.dev_sign_in and not self.entra_tenant_id and not self.entra_configured


ENTRA_VARIABLES = {"ENTRA_TENANT_ID": "entra_tenant_id", "ENTRA_CLIENT_ID": "entra_client_id",
                   "ENTRA_CLIENT_SECRET": "entra_client_secret"}


def _refuse_partial_entra(settings: Settings) -> None:
    """Some but not all of the three: start-up stops rather than fall back to dev sign-in
    (where anyone can be an administrator)."""
    missing = [name for name, attr in ENTRA_VARIABLES.items() if not getattr(settings, attr)]
    if missing and len(missing) < len(ENTRA_VARIABLES):
        raise ValueError(
            f"Microsoft Entra is only partly configured: missing {', '.join(missing)}. Set "
            "all of ENTRA_TENANT_ID, ENTRA_CLIENT_ID and ENTRA_CLIENT_SECRET, or none (and "
            "DEV_SIGN_IN=1 for dev sign-in on a laptop).")
