"""Which Graph the app talks to and where its Microsoft 365 ids come from, decided once at
start-up, so configuration says what it does instead of quietly turning Teams off.

- No tenant and no GRAPH_BASE_URL: the built-in sandbox, with its seeded ids.
- GRAPH_BASE_URL naming a standalone sandbox (`python -m graph.sandbox`): the ids come
  from the sandbox itself (GET /_sandbox/seed). The sandbox owns its seed and can be
  reset or run with another one, so asking it keeps the two from drifting, where copies
  of its ids in the app would not. Settings still win over what it says.
- Microsoft Graph, or a GRAPH_BASE_URL that is not a sandbox (a proxy): nobody can fill
  in a tenant's ids, so start-up refuses, naming each missing setting.

The question to a GRAPH_BASE_URL costs one request bounded by PROBE_TIMEOUT; Microsoft's
own Graph hosts are never asked (they are not sandboxes, and nothing is fetched from the
internet at start-up). A sandbox that does not answer is a refusal that says so, unless
the settings already name every id.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app.m365.sandbox_host import PROBE_TIMEOUT, sandbox_defaults

log = logging.getLogger(__name__)

REAL_GRAPH = "https://graph.microsoft.com/v1.0"
PROBE_MAX_BYTES = 64 * 1024
# Microsoft Graph's national cloud hosts (learn.microsoft.com/graph/deployments).
MICROSOFT_GRAPH_HOSTS = frozenset({"graph.microsoft.com", "graph.microsoft.us",
                                   "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"})

BUILT_IN, STANDALONE, MICROSOFT, OTHER, UNCHECKED = (
    "built-in sandbox", "standalone sandbox", "Microsoft Graph", "another Graph",
    "not checked")

# Target field -> (setting, what it is for). The sandbox can fill in each of these.
IDS = {
    "team_id": ("M365_TEAM_ID", "the team that gets a channel per incident"),
    "broadcast_channel_id": ("M365_BROADCAST_CHANNEL_ID",
                             "the channel major incidents are announced in"),
    "contacts_site_id": ("M365_CONTACTS_SITE_ID", "the SharePoint site of the contacts list"),
    "contacts_list_id": ("M365_CONTACTS_LIST_ID", "the SharePoint contacts list"),
    "reports_drive_id": ("M365_REPORTS_DRIVE_ID", "the document library reports go to"),
    "service_account": ("M365_SERVICE_ACCOUNT",
                        "the account work with nobody behind it acts as"),
}
REQUIRED = ("team_id",)  # without a team, every incident's Teams work is silently skipped
SETTING_OF = {name: setting for name, (setting, _what) in IDS.items()}
_FIELD_OF = {"team_id": "teams_team_id", "broadcast_channel_id": "teams_broadcast_channel_id"}


class ConfigurationError(ValueError):
    """The settings cannot work together; the message says which to set."""


@dataclass(frozen=True)
class GraphSetup:
    kind: str
    base_url: str | None  # None: the built-in sandbox's, known once it starts
    defaults: dict = field(default_factory=dict)  # target field -> id filled in
    sandbox: dict | None = None  # what a standalone sandbox said about itself
    unset: tuple[str, ...] = ()  # optional ids neither set nor filled in
    problem: str = ""  # why a GRAPH_BASE_URL could not be asked, when it was allowed

    @property
    def standalone(self) -> bool:
        return self.kind == STANDALONE

    @property
    def state_file(self) -> str | None:
        return (self.sandbox or {}).get("state_file")

    def defaulted_settings(self) -> list[tuple[str, str]]:
        """(setting, value) the sandbox filled in."""
        return [(SETTING_OF[name], value) for name, value in self.defaults.items()]


def setting_value(settings, name: str):
    return getattr(settings, _FIELD_OF.get(name, name))


def resolve(settings, *, timeout: float = PROBE_TIMEOUT) -> GraphSetup:
    """Decide; raise ConfigurationError naming what is missing."""
    if settings.graph_sandboxed:
        return GraphSetup(BUILT_IN, None, sandbox_defaults(settings.graph_sandbox_db))
    base = (settings.graph_base_url or REAL_GRAPH).rstrip("/")
    if not settings.graph_start_check:
        return GraphSetup(UNCHECKED, base, unset=_missing(settings, {}))
    host = (urlsplit(base).hostname or "").lower()
    if host in MICROSOFT_GRAPH_HOSTS:
        return _without_sandbox(settings, base, MICROSOFT, "")
    try:
        about = ask_sandbox(base, timeout)
    except SandboxUnreachable as exc:
        return _without_sandbox(settings, base, OTHER, str(exc))
    if about is None:
        return _without_sandbox(settings, base, OTHER, "")
    if not about.get("seeded"):
        if _missing(settings, {}, REQUIRED):
            raise ConfigurationError(
                f"The Graph sandbox at GRAPH_BASE_URL={base} holds no seeded tenant (it was "
                "reset without its seed), so it has no team for incidents' channels. Reset "
                "it with its seed (POST /_sandbox/reset?seed=1) or set "
                f"{_names(_missing(settings, {}, REQUIRED))}.")
        return GraphSetup(STANDALONE, base, sandbox=about, unset=_missing(settings, {}))
    ids = about.get("ids") or {}
    defaults = {name: str(ids[name]) for name in IDS
                if not setting_value(settings, name) and ids.get(name)}
    log.info("Microsoft 365: the Graph sandbox at %s; from it: %s", base,
             ", ".join(f"{SETTING_OF[n]}={v}" for n, v in defaults.items()) or "nothing")
    return GraphSetup(STANDALONE, base, defaults, about, _missing(settings, defaults))


def _without_sandbox(settings, base: str, kind: str, problem: str) -> GraphSetup:
    """A Graph nobody can fill ids in for: the settings must name them."""
    required = _missing(settings, {}, REQUIRED)
    pair = [n for n in ("contacts_site_id", "contacts_list_id")
            if not setting_value(settings, n)]
    if len(pair) == 1:  # one half of the contacts list names nothing
        required.extend(SETTING_OF[n] for n in pair)
    if required:
        where = (f"Microsoft Graph ({base})" if kind == MICROSOFT
                 else f"GRAPH_BASE_URL={base}")
        if problem:
            raise ConfigurationError(
                f"{where} did not answer as a Graph sandbox ({problem}). If it is one, start "
                "it (python -m graph.sandbox) and start Incident Desk again; if it is another "
                f"Graph, set {_names(required)}.")
        raise ConfigurationError(
            f"{where} is not a Graph sandbox, so Incident Desk cannot know your tenant's "
            f"ids: set {_names(required)}.")
    if problem:
        log.warning("Microsoft 365: %s did not answer at start-up (%s); using the ids the "
                    "settings name", base, problem)
    return GraphSetup(kind, base, unset=_missing(settings, {}), problem=problem)


def _missing(settings, defaults: dict, names=tuple(IDS)) -> list[str]:
    return [SETTING_OF[n] for n in names if not setting_value(settings, n)
            and not defaults.get(n)]


def _names(settings: list[str]) -> str:
    described = {s: w for s, w in IDS.values()}
    return "; ".join(f"{s} ({described[s]})" for s in settings)


class SandboxUnreachable(Exception):
    """The address did not answer (refused, timed out, not HTTP)."""


def ask_sandbox(base_url: str, timeout: float = PROBE_TIMEOUT) -> dict | None:
    """What the sandbox at `base_url` says about its seed (GET /_sandbox/seed); None when
    something else answers there (a real Graph or a proxy). One bounded request, no
    proxies from the environment: the address is the one configured."""
    import requests

    parts = urlsplit(base_url)
    url = f"{parts.scheme}://{parts.netloc}/_sandbox/seed"
    http = requests.Session()
    http.trust_env = False
    try:
        with http.get(url, timeout=(timeout, timeout), stream=True,
                      allow_redirects=False) as response:
            body = response.raw.read(PROBE_MAX_BYTES + 1, decode_content=True)
            status = response.status_code
    except requests.RequestException as exc:
        raise SandboxUnreachable(_reason(exc, timeout)) from exc
    finally:
        http.close()
    if status != 200 or len(body) > PROBE_MAX_BYTES:
        return None
    try:
        about = json.loads(body)
    except ValueError:
        return None
    from graph.sandbox.seed import SANDBOX_MARK

    if not isinstance(about, dict) or about.get("sandbox") != SANDBOX_MARK:
        return None
    return about


def _reason(exc: Exception, timeout: float) -> str:
    import requests

    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "nothing is listening there, or it cannot be reached"
    return type(exc).__name__
