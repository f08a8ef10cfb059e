"""What the sandbox holds: Graph-shaped JSON documents in SQLite (stdlib sqlite3).

In memory by default (tests); with a `path` the file is shared by every process that
opens it (the web process, in-process jobs, an RQ worker: each runs its own server on the
same file) and survives restarts. WAL mode; every change is one `BEGIN IMMEDIATE`
transaction, so a check-then-write (a duplicate channel name, a transactionId, a draft
sent twice) holds across threads and processes alike.

Readers return plain dicts, oldest first ("newest last").
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from graph.sandbox import auth, directory, shapes
from graph.sandbox.limits import TenantLimits
from graph.sandbox.wire import clock_of, iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    parent TEXT NOT NULL DEFAULT '',
    num INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX IF NOT EXISTS docs_by_scope ON docs (kind, scope, parent, seq);
CREATE INDEX IF NOT EXISTS docs_by_num ON docs (kind, scope, num);
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS throttle (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS throttle_by_key ON throttle (key, at);
CREATE TABLE IF NOT EXISTS in_flight (token TEXT PRIMARY KEY, key TEXT NOT NULL,
                                      until REAL NOT NULL);
CREATE INDEX IF NOT EXISTS in_flight_by_key ON in_flight (key);
"""
REQUEST_LOG_KEEP = 5000


class Tx:
    """Reads and writes inside one transaction (or one locked read)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def get(self, kind: str, key: str, scope: str | None = None) -> dict | None:
        """The document, if it exists (and is in `scope`, when given)."""
        if scope is None:
            row = self.conn.execute("SELECT body FROM docs WHERE kind = ? AND key = ?",
                                    (kind, key)).fetchone()
        else:
            row = self.conn.execute("SELECT body FROM docs WHERE kind = ? AND key = ? "
                                    "AND scope = ?", (kind, key, scope)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: str, body: dict, *, scope: str = "", parent: str = "",
            num: int = 0) -> dict:
        """Insert, or replace the body of an existing document (it keeps its place)."""
        self.conn.execute(
            "INSERT INTO docs (kind, key, scope, parent, num, body) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
            (kind, key, scope, parent, num, json.dumps(body)))
        return body

    def put_many(self, kind: str, rows: Iterable[tuple[str, int, dict]], *,
                 scope: str = "") -> None:
        self.conn.executemany(
            "INSERT INTO docs (kind, key, scope, num, body) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
            ((kind, key, scope, num, json.dumps(body)) for key, num, body in rows))

    def delete(self, kind: str, key: str) -> bool:
        return self.conn.execute("DELETE FROM docs WHERE kind = ? AND key = ?",
                                 (kind, key)).rowcount == 1

    def select(self, kind: str, *, scope: str | None = None, parent: str | None = None,
               num_after: int | None = None, seq_before: int | None = None,
               newest_first: bool = False, limit: int = -1) -> list[tuple[int, dict]]:
        """(seq, body) pairs; ordered by `num` when paging by `num_after`, else by seq."""
        query, args = "SELECT seq, body FROM docs WHERE kind = ?", [kind]
        for column, value in (("scope", scope), ("parent", parent)):
            if value is not None:
                query += f" AND {column} = ?"
                args.append(value)
        if num_after is not None:
            query += " AND num > ?"
            args.append(num_after)
        if seq_before is not None:
            query += " AND seq < ?"
            args.append(seq_before)
        order = "num" if num_after is not None else "seq"
        query += f" ORDER BY {order} {'DESC' if newest_first else 'ASC'} LIMIT ?"
        args.append(limit)
        rows = self.conn.execute(query, args).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def bodies(self, kind: str, **filters) -> list[dict]:
        return [body for _seq, body in self.select(kind, **filters)]

    def max_num(self, kind: str, scope: str) -> int:
        row = self.conn.execute("SELECT MAX(num) FROM docs WHERE kind = ? AND scope = ?",
                                (kind, scope)).fetchone()
        return row[0] or 0

    def next_number(self, name: str, floor: int = 0) -> int:
        """A counter that only goes up: max(previous + 1, floor)."""
        row = self.conn.execute("SELECT value FROM counters WHERE name = ?",
                                (name,)).fetchone()
        value = max((row[0] + 1) if row else 1, floor)
        self.conn.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT "
                          "(name) DO UPDATE SET value = excluded.value", (name, value))
        return value

    def blob(self, key: str) -> bytes | None:
        row = self.conn.execute("SELECT data FROM blobs WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def put_blob(self, key: str, data: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO blobs (key, data) VALUES (?, ?)",
                          (key, sqlite3.Binary(data)))

    def blobs(self, prefix: str) -> list[bytes]:
        rows = self.conn.execute("SELECT data FROM blobs WHERE key >= ? AND key < ? "
                                 "ORDER BY key", (prefix, prefix + "\uffff")).fetchall()
        return [bytes(row[0]) for row in rows]

    def delete_blobs(self, prefix: str) -> None:
        self.conn.execute("DELETE FROM blobs WHERE key >= ? AND key < ?",
                          (prefix, prefix + "\uffff"))


class SandboxState:
    """Thread-safe; safe across processes too when given a `path`.

    `clock` (a callable returning an aware datetime) dates what the sandbox makes, e.g. a
    test's frozen clock, so `createdDateTime`s agree with the app's idea of now.
    """

    def __init__(self, path: str | os.PathLike | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.path = None if path in (None, ":memory:") else os.fspath(path)
        self.clock = clock
        self._open()
        self._logged = 0

    def _open(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path or ":memory:", timeout=30,
                                     isolation_level=None, check_same_thread=False)
        if self.path:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked (an RQ work-horse): never share a handle
            self._open()
        return self._conn

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """One write transaction (nested calls join the outer one)."""
        conn = self._connection()
        with self._lock, clock_of(self.clock):
            if conn.in_transaction:
                yield Tx(conn)
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        conn = self._connection()
        with self._lock, clock_of(self.clock):
            yield Tx(conn)

    def reset(self) -> None:
        """Forget everything (teams, lists and drives too)."""
        with self.tx() as tx:
            for table in ("docs", "blobs", "counters", "throttle", "in_flight"):
                tx.conn.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---- set-up ----------------------------------------------------------------------

    def add_team(self, team_id: str, display_name: str = "") -> dict:
        with self.tx() as tx:
            team = tx.get("team", team_id)
            if team is None:
                team = tx.put("team", team_id, {
                    "id": team_id, "displayName": display_name or team_id,
                    "description": None, "createdDateTime": iso(), "isArchived": False,
                    "webUrl": f"https://teams.microsoft.com/l/team/{team_id}"})
            return team

    def add_channel(self, team_id: str, display_name: str, channel_id: str | None = None,
                    description: str = "", membership_type: str = "standard") -> dict:
        """A channel made without the name rules (e.g. the team's "General"); a private
        one starts with no members."""
        with self.tx() as tx:
            if tx.get("team", team_id) is None:
                raise ValueError(f"no team {team_id!r}: add_team first")
            channel_id = channel_id or shapes.new_channel_id()
            existing = tx.get("channel", channel_id)
            if existing is not None:
                return existing
            return tx.put("channel", channel_id,
                          shapes.channel(team_id, channel_id, display_name, description,
                                         membership_type), scope=team_id)

    def add_team_member(self, team_id: str, upn: str, owner: bool = False) -> dict:
        """An administrator's set-up: a member (or owner) visible at once."""
        with self.tx() as tx:
            user = directory.add_user(tx, upn)["userPrincipalName"]
            return tx.put("member", f"{team_id}/{user}", {
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "id": f"{team_id}#{user}", "roles": ["owner"] if owner else [],
                "displayName": user, "userId": user, "email": user, "user": user,
                "added_by": "", "added_at": "2000-01-01T00:00:00.000Z"}, scope=team_id)

    def delete_channel(self, team_id: str, channel_id: str) -> None:
        """Teams keeps a deleted channel for 30 days: its name stays taken and it counts
        towards the team's limit."""
        with self.tx() as tx:
            found = tx.get("channel", channel_id, scope=team_id)
            if found is None:
                raise ValueError(f"no channel {channel_id!r} in {team_id!r}")
            tx.delete("channel", channel_id)
            tx.put("deleted_channel", channel_id, {**found, "deletedDateTime": iso()},
                   scope=team_id)

    def add_workflow(self, team_id: str, channel_id: str, flow_id: str | None = None) -> str:
        """A Teams Workflows webhook that posts cards into this channel; returns its id
        (the server's `workflow_url(id)` is what a Teams owner would copy)."""
        flow_id = flow_id or uuid.uuid4().hex
        with self.tx() as tx:
            if tx.get("channel", channel_id) is None:
                raise ValueError(f"no channel {channel_id!r}: add_channel first")
            tx.put("workflow", flow_id, {"id": flow_id, "team_id": team_id,
                                         "channel_id": channel_id})
        return flow_id

    def add_site(self, site_id: str, display_name: str = "") -> dict:
        with self.tx() as tx:
            site = tx.get("site", site_id)
            if site is None:
                site = tx.put("site", site_id, {
                    "id": site_id, "displayName": display_name or site_id,
                    "webUrl": f"{shapes.SHAREPOINT}/sites/{site_id}"})
            return site

    def seed_list(self, site_id: str, list_id: str, items: Iterable[dict],
                  replace: bool = False) -> None:
        """Append list items (dicts of fields); ids count up from 1 per list."""
        scope = f"{site_id}/{list_id}"
        created = iso()
        with self.tx() as tx:
            self.add_site(site_id)
            if tx.get("list", scope) is None:
                tx.put("list", scope, {"id": list_id, "name": list_id,
                                       "displayName": list_id, "createdDateTime": created},
                       scope=site_id)
            if replace:
                tx.conn.execute("DELETE FROM docs WHERE kind = 'item' AND scope = ?",
                                (scope,))
            first = tx.max_num("item", scope) + 1
            tx.put_many("item", ((f"{scope}/{number}", number, item) for number, item in
                                 shapes.list_items(site_id, list_id, first, items, created)),
                        scope=scope)

    def add_drive(self, drive_id: str, name: str = "Documents",
                  site_id: str | None = None) -> dict:
        """A document library, in `site_id` (what Sites.Selected grants are checked on)."""
        with self.tx() as tx:
            drive = tx.get("drive", drive_id)
            if drive is None:
                drive = tx.put("drive", drive_id, {
                    "id": drive_id, "name": name, "driveType": "documentLibrary",
                    "createdDateTime": iso(), "site_id": site_id,
                    "webUrl": f"{shapes.SHAREPOINT}/{drive_id}"})
            return drive

    def put_file(self, drive_id: str, path: str, data: bytes,
                 mime_type: str | None = None) -> dict:
        """Store (or replace) a file at `path` (e.g. `Templates/report.docx`)."""
        self.add_drive(drive_id)
        with self.tx() as tx:
            return store_file(tx, drive_id, path.strip("/"), bytes(data), mime_type,
                              via="seed", actor="")[0]

    # ---- the tenant's directory and what an administrator granted ---------------------

    def add_user(self, upn: str, display_name: str = "", user_id: str | None = None) -> dict:
        with self.tx() as tx:
            return directory.add_user(tx, upn, display_name, user_id)

    def disable_user(self, upn: str) -> None:
        """The account is blocked: its sign-ins and refreshes fail (AADSTS50057)."""
        with self.tx() as tx:
            user = directory.add_user(tx, upn)
            tx.put("user", directory.user_key(upn), {**user, "accountEnabled": False})

    def revoke_sign_ins(self, upn: str) -> None:
        """Every refresh token issued to this person so far stops working (AADSTS50173),
        as after a password reset."""
        import time

        with self.tx() as tx:
            user = directory.add_user(tx, upn)
            tx.put("user", directory.user_key(upn),
                   {**user, "tokens_revoked_at": int(time.time()) + 1})

    def add_app(self, client_id: str, secret: str, display_name: str = "Incident Desk", *,
                delegated: Iterable[str] = (), application: Iterable[str] = ()) -> dict:
        """An app registration with admin consent for these Graph permissions."""
        with self.tx() as tx:
            return directory.add_app(tx, client_id, secret, display_name,
                                     delegated=tuple(delegated), application=tuple(application))

    def app(self, client_id: str) -> dict | None:
        with self.read() as tx:
            return tx.get("app", client_id)

    def grant_site(self, client_id: str, site_id: str, role: str) -> None:
        with self.tx() as tx:
            directory.grant_site(tx, client_id, site_id, role)

    def grant_mailbox(self, client_id: str, mailbox: str, permissions: Iterable[str]) -> None:
        with self.tx() as tx:
            directory.grant_mailbox(tx, client_id, mailbox, tuple(permissions))

    def add_mailbox_delegate(self, mailbox: str, upn: str) -> None:
        """Exchange's Send As / Full Access: `upn` may send from `mailbox` themselves."""
        with self.tx() as tx:
            tx.put("mailbox_delegate", f"{mailbox.lower()}/{upn.lower()}", {"at": iso()})

    def configure_tenant(self, **limits) -> TenantLimits:
        """Change the tenant's limits and delays (graph/sandbox/limits.py)."""
        with self.tx() as tx:
            current = TenantLimits.from_doc(tx.get("tenant", "limits")).as_doc()
            unknown = set(limits) - set(current)
            if unknown:
                raise ValueError(f"unknown tenant settings {sorted(unknown)}")
            tx.put("tenant", "limits", {**current, **limits})
        return self.limits()

    def limits(self) -> TenantLimits:
        with self.read() as tx:
            return TenantLimits.from_doc(tx.get("tenant", "limits"))

    def token_for(self, upn: str, client_id: str | None = None,
                  scopes: Iterable[str] | None = None, lifetime: float | None = None) -> str:
        """A delegated access token for `upn` through the app (its consented scopes, or
        exactly `scopes`), as Entra would issue after a sign-in: for tests that are not
        about signing in."""
        with self.tx() as tx:
            app = self._app_for(tx, client_id)
            user = directory.add_user(tx, upn)
            limits = TenantLimits.from_doc(tx.get("tenant", "limits"))
            return auth.access_token(
                auth.signing_key(tx), app=app, user=user,
                permissions=app["delegated"] if scopes is None else scopes,
                lifetime=lifetime or limits.token_lifetime)[0]

    def app_token(self, client_id: str | None = None, roles: Iterable[str] | None = None,
                  lifetime: float | None = None) -> str:
        """An application access token (client credentials) for the app."""
        with self.tx() as tx:
            app = self._app_for(tx, client_id)
            limits = TenantLimits.from_doc(tx.get("tenant", "limits"))
            return auth.access_token(
                auth.signing_key(tx), app=app, user=None,
                permissions=app["application"] if roles is None else roles,
                lifetime=lifetime or limits.token_lifetime)[0]

    @staticmethod
    def _app_for(tx, client_id: str | None) -> dict:
        if client_id is None:
            rows = [row for row in tx.bodies("app") if not row.get("bot")]  # bots: no Graph
            if len(rows) != 1:
                raise ValueError("name the app: the sandbox has "
                                 f"{len(rows)} app registrations")
            return rows[0]
        found = tx.get("app", client_id)
        if found is None:
            raise ValueError(f"no app registration {client_id!r}: add_app first")
        return found

    def token_redemptions(self, grant: str | None = None, subject: str | None = None) -> int:
        """How many times Entra's token endpoint issued tokens (for one grant type and,
        with `subject`, one person's UPN or the app's client id)."""
        name = "entra:" + (grant or "") + (f":{subject}" if subject else "")
        with self.read() as tx:
            if grant is None:
                row = tx.conn.execute("SELECT COALESCE(SUM(value), 0) FROM counters WHERE "
                                      "name IN ('entra:authorization_code', "
                                      "'entra:refresh_token', 'entra:client_credentials')"
                                      ).fetchone()
            else:
                row = tx.conn.execute("SELECT value FROM counters WHERE name = ?",
                                      (name,)).fetchone()
        return int(row[0]) if row else 0

    # ---- readers for tests and the "what was sent" page ---------------------------------

    def channels(self, team_id: str | None = None) -> list[dict]:
        with self.read() as tx:
            if team_id is None:
                rows = tx.conn.execute("SELECT scope, body FROM docs WHERE kind = 'channel' "
                                       "ORDER BY seq").fetchall()
            else:
                rows = tx.conn.execute("SELECT scope, body FROM docs WHERE kind = 'channel' "
                                       "AND scope = ? ORDER BY seq", (team_id,)).fetchall()
        return [{**json.loads(body), "team_id": scope} for scope, body in rows]

    def messages(self, team_id: str | None = None, channel_id: str | None = None
                 ) -> list[dict]:
        """Posts and replies (`reply_to` is the parent's id, None for a post)."""
        with self.read() as tx:
            rows = tx.bodies("message", scope=channel_id)
        result = []
        for message in rows:
            where = message.get("channelIdentity") or {}
            if team_id is not None and where.get("teamId") != team_id:
                continue
            result.append({**message, "team_id": where.get("teamId"),
                           "channel_id": where.get("channelId"),
                           "reply_to": message.get("replyToId")})
        return result

    def mails(self) -> list[dict]:
        """Sent mail: mailbox, sender, to/cc/bcc, subject, html, headers, sent_at."""
        with self.read() as tx:
            return tx.bodies("mail")

    def drafts(self) -> list[dict]:
        with self.read() as tx:
            return tx.bodies("draft")

    def events(self) -> list[dict]:
        with self.read() as tx:
            return tx.bodies("event")

    def meetings(self) -> list[dict]:
        with self.read() as tx:
            return tx.bodies("meeting")

    def members(self, team_id: str) -> list[dict]:
        with self.read() as tx:
            return tx.bodies("member", scope=team_id)

    def channel_members(self, channel_id: str) -> list[dict]:
        """A private channel's own members (userId, roles, ...), as added."""
        with self.read() as tx:
            return tx.bodies("channel_member", scope=channel_id)

    def files(self, drive_id: str | None = None) -> list[dict]:
        """Metadata (path, name, size, id, eTag, webUrl, mimeType, ...) without bytes."""
        with self.read() as tx:
            return [record_of(item) for item in tx.bodies("file", scope=drive_id)]

    def file_bytes(self, drive_id: str, path: str) -> bytes | None:
        with self.read() as tx:
            return tx.blob(f"file:{drive_id}/{path.strip('/').lower()}")

    def requests(self) -> list[dict]:
        """Every /v1.0 and upload request: method, path, status, actor, duration, fault."""
        with self.read() as tx:
            return tx.bodies("request")

    def summary(self) -> dict:
        with self.read() as tx:
            rows = tx.conn.execute("SELECT kind, COUNT(*) FROM docs GROUP BY kind").fetchall()
        return dict(rows)

    def log_request(self, entry: dict) -> None:
        with self.tx() as tx:
            tx.put("request", entry["request_id"], entry)
            self._logged += 1
            if self._logged % 500 == 0:
                tx.conn.execute(
                    "DELETE FROM docs WHERE kind = 'request' AND seq <= (SELECT seq FROM docs "
                    "WHERE kind = 'request' ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (REQUEST_LOG_KEEP,))


def record_of(item: dict) -> dict:
    """A stored file's metadata as readers see it (the Graph driveItem is under `item`)."""
    return {key: value for key, value in item.items() if not key.startswith("@")}


def file_key(drive_id: str, path: str) -> str:
    return f"{drive_id}/{path.strip('/').lower()}"


def store_file(tx: Tx, drive_id: str, path: str, data: bytes, mime: str | None, *,
               via: str, actor: str) -> tuple[dict, bool]:
    """Create or replace the file at `path`; (stored record, created?)."""
    key = file_key(drive_id, path)
    existing = tx.get("file", key)
    item = shapes.drive_item(drive_id, path, len(data),
                             existing["id"] if existing else shapes.new_item_id(),
                             existing["createdDateTime"] if existing else iso(), mime)
    record = {**item, "drive_id": drive_id, "path": path, "mimeType": item["file"]["mimeType"],
              "via": via, "upload_session": via == "session", "actor": actor}
    tx.put("file", key, record, scope=drive_id)
    tx.put_blob(f"file:{key}", data)
    return record, existing is None
