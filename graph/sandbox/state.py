"""What the sandbox received, kept as Graph-shaped JSON documents in SQLite.

SQLite lets the web process, in-process jobs and an RQ worker share one sandbox (each
runs its own server thread on the same file) and keeps it across restarts. Without a
path it lives in memory, for tests.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS docs_kind_scope ON docs (kind, scope, seq);
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


class SandboxState:
    def __init__(self, path: str | None = None):
        self._lock = threading.RLock()
        self._local = threading.local()
        self._path = path
        if path is None:
            self._shared = sqlite3.connect(":memory:", check_same_thread=False)
            self._shared.executescript(SCHEMA)
        else:
            self._shared = None
            self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        if self._shared is not None:
            return self._shared
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    # ---- documents ---------------------------------------------------------------------

    def put(self, kind: str, doc_id: str, body: dict, scope: str = "") -> dict:
        with self._lock, self._conn() as conn:
            conn.execute(
                "INSERT INTO docs (kind, id, scope, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                (kind, doc_id, scope, json.dumps(body)))
        return body

    def put_many(self, kind: str, rows: Iterable[tuple[str, dict]], scope: str = "") -> None:
        with self._lock, self._conn() as conn:
            conn.executemany(
                "INSERT INTO docs (kind, id, scope, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                ((kind, doc_id, scope, json.dumps(body)) for doc_id, body in rows))

    def get(self, kind: str, doc_id: str) -> dict | None:
        with self._lock:
            row = self._conn().execute("SELECT body FROM docs WHERE kind = ? AND id = ?",
                                       (kind, doc_id)).fetchone()
        return json.loads(row[0]) if row else None

    def delete(self, kind: str, doc_id: str) -> bool:
        with self._lock, self._conn() as conn:
            return conn.execute("DELETE FROM docs WHERE kind = ? AND id = ?",
                                (kind, doc_id)).rowcount == 1

    def all(self, kind: str, scope: str | None = None, after: int = 0,
            limit: int = -1) -> list[tuple[int, dict]]:
        query = "SELECT seq, body FROM docs WHERE kind = ? AND seq > ?"
        args: list = [kind, after]
        if scope is not None:
            query += " AND scope = ?"
            args.append(scope)
        query += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn().execute(query, args).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def blob(self, key: str, data: bytes | None = None) -> bytes | None:
        with self._lock, self._conn() as conn:
            if data is not None:
                conn.execute("INSERT OR REPLACE INTO blobs (key, data) VALUES (?, ?)",
                             (key, data))
                return data
            row = conn.execute("SELECT data FROM blobs WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def reset(self) -> None:
        with self._lock, self._conn() as conn:
            conn.execute("DELETE FROM docs")
            conn.execute("DELETE FROM blobs")

    # ---- set-up ----------------------------------------------------------------------

    def add_team(self, team_id: str, display_name: str = "") -> None:
        if self.get("team", team_id) is None:
            self.put("team", team_id, {"id": team_id, "displayName": display_name})

    def add_channel(self, team_id: str, display_name: str, channel_id: str | None = None,
                    description: str = "") -> dict:
        channel_id = channel_id or f"19:{uuid.uuid4().hex}@thread.tacv2"
        return self.put("channel", channel_id, {
            "id": channel_id, "displayName": display_name, "description": description,
            "membershipType": "standard",
            "webUrl": f"https://teams.microsoft.com/l/channel/{channel_id}/"
                      f"{display_name}?groupId={team_id}"}, scope=team_id)

    def seed_list(self, site_id: str, list_id: str, items: list[dict],
                  replace: bool = False) -> None:
        scope = f"{site_id}/{list_id}"
        with self._lock:
            if replace:
                with self._conn() as conn:
                    conn.execute("DELETE FROM docs WHERE kind = 'item' AND scope = ?", (scope,))
            self.put("list", scope, {"id": list_id, "site": site_id})
            start = len(self.all("item", scope))
            self.put_many("item", (
                (f"{scope}/{start + n + 1}",
                 {"id": str(start + n + 1), "eTag": f'"{uuid.uuid4()},1"',
                  "createdDateTime": "2026-01-01T00:00:00Z", "fields": dict(fields)})
                for n, fields in enumerate(items)), scope=scope)

    def add_drive(self, drive_id: str) -> None:
        if self.get("drive", drive_id) is None:
            self.put("drive", drive_id, {"id": drive_id})

    # ---- readers for tests and the "what was sent" page --------------------------------

    def channels(self, team_id: str | None = None) -> list[dict]:
        return [doc for _seq, doc in self.all("channel", team_id)]

    def messages(self, team_id: str | None = None, channel_id: str | None = None) -> list[dict]:
        return [doc for _seq, doc in self.all("message")
                if (team_id is None or doc["team_id"] == team_id)
                and (channel_id is None or doc["channel_id"] == channel_id)]

    def mails(self) -> list[dict]:
        return [doc for _seq, doc in self.all("sent")]

    def drafts(self) -> list[dict]:
        return [doc for _seq, doc in self.all("draft")]

    def events(self) -> list[dict]:
        return [doc for _seq, doc in self.all("event")]

    def meetings(self) -> list[dict]:
        return [doc for _seq, doc in self.all("meeting")]

    def members(self, team_id: str) -> list[dict]:
        return [doc for _seq, doc in self.all("member", team_id)]

    def files(self, drive_id: str | None = None) -> list[dict]:
        return [doc for _seq, doc in self.all("file", drive_id)]

    def file_bytes(self, drive_id: str, path: str) -> bytes | None:
        return self.blob(f"{drive_id}/{path.strip('/').lower()}")

    def requests(self) -> list[dict]:
        return [doc for _seq, doc in self.all("request")]


def seed_defaults(state: SandboxState) -> None:
    """A small tenant to try things in: a team with a broadcast channel, a contacts list
    and a drive for reports. Ids match app.m365.sandbox_host."""
    if state.get("team", "incident-team") is not None:
        return
    state.add_team("incident-team", "Incidents")
    state.add_channel("incident-team", "General", "19:general@thread.tacv2",
                      "Announcements for everyone")
    state.seed_list("contacts-site", "contacts", [
        {"Title": "Priya Shah", "Email": "priya.shah@example.org", "Service": "",
         "Role": "Deputy director", "Severities": ["P1"]},
        {"Title": "Tom Baker", "Email": "tom.baker@example.org", "Service": "",
         "Role": "Programme delivery manager", "Severities": ["P1", "P2"]},
        {"Title": "Ama Mensah", "Email": "ama.mensah@example.org", "Service": "Payments",
         "Role": "Service owner", "Severities": ["P1", "P2"]},
        {"Title": "Li Wei", "Email": "li.wei@example.org", "Service": "Payments",
         "Role": "Product manager", "Severities": []},
        {"Title": "Sam Jones", "Email": "sam.jones@example.org", "Service": "Search",
         "Role": "Service owner", "Severities": ["P1"]},
    ])
    state.add_drive("incident-reports")
