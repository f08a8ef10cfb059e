"""The Graph sandbox as the default Microsoft 365 when no tenant is configured.

Each process (web, in-process jobs, an RQ worker) runs its own sandbox server thread on
a free port; they share one SQLite state file, so what one process sent, every process
and the "what was sent" page can see, across restarts too.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from sqlalchemy import not_, select

from app.incidents.models import Incident
from app.incidents.service import visible_to
from app.m365.models import TeamsChannel

# Seconds for a question to a standalone sandbox (its seeded ids at start-up, enrolling
# someone in its team): the app's start must not wait long on a sandbox that is down.
PROBE_TIMEOUT = 3.0

SANDBOX_TEAM = "incident-team"
SANDBOX_BROADCAST = "19:general@thread.tacv2"
SANDBOX_SITE = "contacts-site"
SANDBOX_LIST = "contacts"
SANDBOX_DRIVE = "incident-reports"
SANDBOX_SERVICE_ACCOUNT = "incident-desk@example.org"  # owns the sandbox's team

_lock = threading.Lock()
_servers: dict[tuple[int, str], object] = {}


def sandbox_defaults(_db_path: str) -> dict:
    """The ids `graph.sandbox.seed_defaults` creates, as a tenant's settings would name."""
    return {
        "team_id": SANDBOX_TEAM,
        "broadcast_channel_id": SANDBOX_BROADCAST,
        "contacts_site_id": SANDBOX_SITE,
        "contacts_list_id": SANDBOX_LIST,
        "reports_drive_id": SANDBOX_DRIVE,
        "service_account": SANDBOX_SERVICE_ACCOUNT,
    }


_states: dict[tuple, object] = {}


def state_for(db_path: str):
    """One state object per process and file (":memory:" stays shared in the process)."""
    from graph.sandbox import SandboxState, seed_defaults

    key = (os.getpid(), db_path)
    with _lock:
        state = _states.get(key)
        if state is None:
            if db_path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(db_path)), exist_ok=True)
            state = SandboxState(path=None if db_path == ":memory:" else db_path)
            seed_defaults(state)
            _states[key] = state
    return state


@dataclass(frozen=True)
class EntraApp:
    """An Entra app registration to get tokens from: the tenant's, or the sandbox's."""

    tenant_id: str
    client_id: str
    client_secret: str
    authority_host: str
    verify: bool | str = True  # the sandbox's certificate file for its Entra


def sandbox_entra(app) -> EntraApp:
    """The sandbox tenant's app registration (graph/sandbox/seed.py), at this process's
    sandbox Entra."""
    from graph.sandbox.seed import CLIENT_ID, CLIENT_SECRET
    from graph.sandbox.wire import TENANT_ID

    server = sandbox_for(app)
    return EntraApp(TENANT_ID, CLIENT_ID, CLIENT_SECRET, server.authority_host,
                    server.ca_file)


def sign_in(app, email: str, name: str = ""):
    """A real MSAL sign-in to the sandbox tenant for `email` (graph.entra.sign_in_by_hint):
    what dev sign-in stores, so jobs refresh tokens exactly as they would in a tenant."""
    from graph.entra import EntraSignIn, sign_in_by_hint

    entra = sandbox_entra(app)
    return sign_in_by_hint(
        EntraSignIn(entra.tenant_id, entra.client_id, entra.client_secret,
                    entra.authority_host, verify=entra.verify),
        f"{app.extensions['settings'].app_base_url.rstrip('/')}/auth/callback", email, name)


def enrol(app, email: str) -> None:
    """A dev sign-in in sandbox mode: the person joins the sandbox tenant's incidents team,
    as an administrator following the README would have made them a member. A standalone
    sandbox is asked to do it (POST /_sandbox/team-members); if it cannot, the sign-in
    still stands and the set-up check names the membership."""
    team = app.extensions["installation"].team_id
    setup = app.extensions.get("graph_setup")
    if setup is not None and setup.standalone:
        if team:
            _enrol_standalone(app, setup.base_url, team, email)
        return
    state = state_for(app.extensions["settings"].graph_sandbox_db)
    if team:
        with state.read() as tx:
            member = tx.get("member", f"{team}/{email.lower()}")
        if member is None:
            state.add_team_member(team, email)


def _enrol_standalone(app, base_url: str, team: str, email: str) -> None:
    import requests

    parts = urlsplit(base_url)
    http = requests.Session()
    http.trust_env = False
    try:
        answer = http.post(f"{parts.scheme}://{parts.netloc}/_sandbox/team-members",
                           json={"upns": [email], "team_id": team}, timeout=PROBE_TIMEOUT)
        answer.raise_for_status()
    except requests.RequestException as exc:
        app.logger.warning("the Graph sandbox at %s could not add %s to the team %s: %r",
                           base_url, email, team, exc)
    finally:
        http.close()


def sandbox_for(app):
    """This process's sandbox server for the app's state file, started on first use."""
    from graph.sandbox import SandboxServer

    db_path = app.extensions["settings"].graph_sandbox_db
    key = (os.getpid(), db_path)
    state = state_for(db_path)
    with _lock:
        server = _servers.get(key)
        if server is None:
            server = SandboxServer(state=state).start()
            _servers[key] = server
    return server


def _card_view(attachment: dict) -> dict:
    """The text and links of an Adaptive Card, for showing it as plain HTML."""
    try:
        content = json.loads(attachment.get("content") or "{}")
    except ValueError:
        return {"lines": ["(a card that is not valid JSON)"], "actions": []}
    lines: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "RichTextBlock":
                lines.append("".join(i.get("text", "") for i in node.get("inlines", [])))
                return
            if node.get("type") == "TextBlock":
                lines.append(node.get("text", ""))
                return
            if node.get("type") == "ColumnSet":
                parts = []
                for column in node.get("columns", []):
                    for item in column.get("items", []):
                        parts.append("".join(i.get("text", "")
                                             for i in item.get("inlines", [])))
                lines.append(": ".join(p for p in parts if p))
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(content.get("body", []))
    actions = [{"title": a.get("title", ""), "url": a.get("url", "")}
               for a in content.get("actions", []) if a.get("type") == "Action.OpenUrl"]
    return {"lines": [line for line in lines if line], "actions": actions}


def standalone_state(db_path: str):
    """A standalone sandbox's state file, opened to read what it received. Unlike
    state_for, never seeded: the file is the sandbox's, and it owns its seed."""
    from graph.sandbox import SandboxState

    key = (os.getpid(), "standalone", db_path)
    with _lock:
        state = _states.get(key)
        if state is None:
            state = _states[key] = SandboxState(path=db_path)
    return state


@dataclass(frozen=True)
class Unseen:
    """What one person may not see of the sandbox's record: anything naming a security
    incident hidden from them (its reference, its channel), and the restricted reports
    folder unless they may see security incidents' reports (then only their own)."""

    words: frozenset[str] = frozenset()  # lowercased references and channel ids
    restricted_folder: str | None = None  # lowercased; None: nothing restricted for them
    own: frozenset[str] = frozenset()  # lowercased references they may see

    def with_words(self, more) -> Unseen:
        return Unseen(self.words | {w.lower() for w in more if w}, self.restricted_folder,
                      self.own)

    def hides(self, item) -> bool:
        """Whether a channel, message, mail, file, meeting or request is not for them."""
        text = json.dumps(item, default=str).lower()
        text = f"{text}\n{unquote(text)}"
        if any(word in text for word in self.words):
            return True
        return self._in_restricted(text)

    def hides_file(self, path: str) -> bool:
        return self.hides({"path": path})

    def _in_restricted(self, text: str) -> bool:
        folder = self.restricted_folder
        if not folder or not any(mark in text for mark in (f'"{folder}/', f"/{folder}/",
                                                           f":{folder}/")):
            return False
        return not any(reference in text for reference in self.own)


def unseen_by(session, viewer, installation) -> Unseen:
    """The Unseen for `viewer`: admins and the security team see everything."""
    if viewer.is_admin or viewer.is_security:
        return Unseen()
    seen = visible_to(viewer)
    hidden = session.execute(select(Incident.id, Incident.reference).where(
        Incident.is_security.is_(True), not_(seen))).all()
    channels = session.scalars(select(TeamsChannel.channel_id).where(
        TeamsChannel.incident_id.in_([row.id for row in hidden]))).all() if hidden else []
    own = session.scalars(select(Incident.reference).where(
        Incident.is_security.is_(True), seen)).all()
    folder = installation.security_reports_folder
    return Unseen(frozenset(w.lower() for w in (*(r.reference for r in hidden), *channels)),
                  folder.strip("/").lower() if folder else None,
                  frozenset(r.lower() for r in own))


def sandbox_view(state, unseen: Unseen | None = None) -> dict:
    """What the sandbox page lists, newest first; without what `unseen` hides."""
    unseen = unseen or Unseen()
    channels = state.channels()
    # A hidden incident's channel (its description starts with the reference) hides the
    # messages posted in it and the requests naming it.
    unseen = unseen.with_words(c["id"] for c in channels if unseen.hides(c))
    channels = [c for c in channels if not unseen.hides(c)]

    def shown(items: list) -> list:
        return [item for item in reversed(items) if not unseen.hides(item)]

    messages = []
    for raw in shown(state.messages()):
        cards = [_card_view(a) for a in raw.get("attachments", [])
                 if a.get("contentType") == "application/vnd.microsoft.card.adaptive"]
        messages.append({
            "channel_id": raw["channel_id"], "reply_to": raw.get("replyToId"),
            "from_name": ((raw.get("from") or {}).get("user")
                          or (raw.get("from") or {}).get("application") or {}
                          ).get("displayName", ""),
            "created": raw.get("createdDateTime", ""), "cards": cards,
            "text": re.sub(r"<[^>]+>", " ", raw.get("body", {}).get("content", "")).strip(),
        })
    return {
        "channels": list(reversed(channels)),
        "channel_names": {c["id"]: c["displayName"] for c in channels},
        "messages": messages,
        "app_posts": _app_posts(state, unseen, {c["id"]: c["displayName"] for c in channels}),
        "activity_notifications": _activity_notifications(state, unseen),
        "mails": shown(state.mails()),
        "files": shown(state.files()),
        "meetings": shown(state.meetings()),
        "events": shown(state.events()),
        "requests": shown(state.requests())[:100],
        "entra": {grant: state.token_redemptions(grant) for grant in
                  ("authorization_code", "refresh_token", "client_credentials")},
        "refused": _refusals(state.requests()),
    }


MAX_APP_POSTS = 100


def _app_posts(state, unseen: Unseen, channel_names: dict[str, str]) -> list[dict]:
    """What the Teams app's bot sent through the sandbox's Bot Connector (new threads in
    channels, replies to commands, card updates), newest first, the last MAX_APP_POSTS."""
    from graph.sandbox.routes_connector import sent_activities

    posts = []
    for sent in reversed(sent_activities(state)[-MAX_APP_POSTS:]):
        if unseen.hides(sent):
            continue
        activity = sent.get("activity") or {}
        channel = sent.get("channel_id") or str(sent.get("conversation_id", "")).split(";")[0]
        cards = [_card_view({"content": json.dumps(a.get("content") or {})})
                 for a in activity.get("attachments") or []
                 if isinstance(a, dict)
                 and a.get("contentType") == "application/vnd.microsoft.card.adaptive"]
        posts.append({
            "where": channel_names.get(channel) or ("a channel" if sent.get("channel_id")
                                                     else "a chat"),
            "what": "updated a card" if sent.get("updated") else (
                "replied" if sent.get("reply_to_id") else "posted"),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent["at"]))
            if isinstance(sent.get("at"), int | float) else "", "cards": cards,
            "text": str(activity.get("text") or "")[:2000]})
    return posts


def _activity_notifications(state, unseen: Unseen) -> list[dict]:
    """What reached people's Teams activity feeds (graph/sandbox/routes_activity.py),
    newest first, the last MAX_APP_POSTS; one replaced by a later one with the same
    chainId says so (Teams shows only the later)."""
    from graph.sandbox.routes_activity import sent_notifications

    shown = []
    for sent in reversed(sent_notifications(state)[-MAX_APP_POSTS:]):
        if unseen.hides(sent):
            continue
        topic = sent.get("topic") or {}
        link = str(topic.get("webUrl") or "")
        shown.append({
            "recipient": sent.get("recipient_name") or sent.get("recipient_upn") or "",
            "upn": sent.get("recipient_upn") or "", "text": str(sent.get("text") or ""),
            "preview": str(sent.get("preview") or ""), "topic": str(topic.get("value") or ""),
            "link": link if link.startswith("https://") else "",
            "at": sent.get("sent_at") or "", "replaced": bool(sent.get("replaced"))})
    return shown


def _refusals(requests: list[dict]) -> dict[int, int]:
    counts = {401: 0, 403: 0, 429: 0}
    for request in requests:
        if request["status"] in counts:
            counts[request["status"]] += 1
    return counts
