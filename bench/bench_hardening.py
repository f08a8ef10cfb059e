"""Issue 15 ("Hardening"), its attacks repeated and timed in one run.

Against a fresh database (SQLite in a temporary directory, or BENCH_DATABASE_URL, which
is emptied first: give it a database of its own) with a catalogue of 1,000 services:

1. POST /api/v1/incidents naming 1,000 new services (about 12 KB), then 30 services all
   new, then a legal 30 (20 known, 10 new), with a valid API token;
2. POST /alerts/<id> with 1,500 generic alerts of distinct fingerprints, then 100 (the
   cap), each naming a service, half of them not in the catalogue;
3. a zip-bomb template (a 1.5 GB part of zeros in a 1.5 MB upload, streamed to a
   temporary file) and one whose directory lies about that part's size (says 20 MB),
   uploaded as an administrator on /reports/template.

During 1 and 2 another person (their own client and sign-in, in a thread) saves notes on
another incident one after another; each note's answer and time are kept, and the notes
are counted in the database afterwards.

Each attack's time is the POST's own (the page it came from is fetched first, untimed).
"SQL" counts the statements the attack's own thread ran. Microsoft 365 work is counted as
deliveries (outbox rows): here nothing sends them (in production RQ workers do, in their
own processes), so no delivery competes with the requests measured. Prints a table; exits
1 only if a request raised or answered 500, or a note was refused or lost.
Run: `.venv/bin/python bench/bench_hardening.py`.
"""

from __future__ import annotations

import html
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docx import Document
from graph_bench import (  # after the path set-up above; it puts the root on the path
    APP_BASE_URL,
    Workdir,
    csrf,
    settings_for,
    signed_in_client,
)
from sqlalchemy import event, func, insert, select

from app import create_app
from app.alerts import service as alert_service
from app.auth.models import User
from app.auth.service import create_api_token
from app.db import Session
from app.incidents import service as incidents
from app.incidents.models import Incident, Service, TimelineEntry
from app.outbox.models import Delivery

TARGET_S = 1.0
CATALOGUE = 1_000
DEAD_GRAPH = "http://127.0.0.1:9/v1.0"  # refuses connections: nothing leaves the machine
ADMIN = "admin@example.com"
BOMB_BYTES = 1_500 * 1_000_000  # ~1.5 GB of zeros in one part
LIED_SIZE = 20 * 1_000_000  # what the lying directory says that part holds
NOTE_TEXT = "Bench note while under attack"
ERROR_ITEM = re.compile(r'govuk-error-summary__list.*?<a [^>]*>(.*?)</a>', re.S)


class HeldJobs:
    """The job queue's interface, keeping what is queued: the deliveries stay in the
    outbox, counted, as they would wait for RQ workers in other processes."""

    kind = "held"

    def __init__(self):
        self.queued = 0

    def enqueue(self, path: str, *args, delay: float = 0.0, urgent: bool = False) -> bool:
        self.queued += 1
        return True

    def every(self, seconds: float, path: str, first_in: float = 0.0) -> None:
        pass

    def wait(self, timeout: float = 10.0, include_delayed: bool = False) -> None:
        pass

    def recheck(self) -> bool:
        return True

    def shutdown(self) -> None:
        pass


@dataclass
class Result:
    attack: str
    status: int | str
    seconds: float
    statements: int | None = None
    created: str = ""
    answer: str = ""


@dataclass
class Notes:
    """Notes saved by another person while an attack ran."""

    attack: str
    answers: list[tuple[float, float, int]] = field(default_factory=list)  # start, took, status
    window: tuple[float, float] = (0.0, 0.0)  # the attack's start and end

    def overlapping(self) -> list[tuple[float, float, int]]:
        start, end = self.window
        return [a for a in self.answers if a[0] < end and a[0] + a[1] > start]


class StatementCounter:
    """SQL statements run by one thread (the attack's), not the note-taker's."""

    def __init__(self, engine):
        self.count, self._thread = 0, None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args) -> None:
        if threading.get_ident() == self._thread:
            self.count += 1

    def start(self) -> None:
        self.count, self._thread = 0, threading.get_ident()

    def stop(self) -> int:
        self._thread = None
        return self.count


class Bench:
    def __init__(self, workdir: Workdir):
        self.workdir = workdir
        settings = settings_for(workdir.database_url, DEAD_GRAPH, graph_start_check=False,
                                admin_emails=frozenset({ADMIN}), dev_sign_in=True)
        self.app = create_app(settings, SERVER_NAME="incident-desk.test")
        self.app.extensions["jobs"].shutdown()
        self.jobs = self.app.extensions["jobs"] = HeldJobs()
        self.sql = StatementCounter(self.app.extensions["db_engine"])
        self.results: list[Result] = []
        self.notes: list[Notes] = []
        self.errors: list[str] = []
        self._seed()

    # ---- set-up -------------------------------------------------------------------------

    def _seed(self) -> None:
        self.api_client = signed_in_client(self.app, "Api Caller", "api@example.com")
        self.admin = signed_in_client(self.app, "Ada Admin", ADMIN)
        self.note_taker = signed_in_client(self.app, "Bea Scribe", "bea@example.com")
        with self.app.app_context():
            Session.execute(insert(Service), [{"name": f"Service {n:04d}"}
                                              for n in range(CATALOGUE)])
            Session.commit()
            caller = Session.query(User).filter_by(email="api@example.com").one()
            _row, self.token = create_api_token(Session, caller, "bench")
            scribe = Session.query(User).filter_by(email="bea@example.com").one()
            admin = Session.query(User).filter_by(email=ADMIN).one()
            quiet = incidents.declare(Session, self.app.extensions["org"], scribe,
                                      title="Elsewhere: a printer is jammed",
                                      description="", severity="P3",
                                      effects=self.app.extensions["effects"])
            self.note_reference = quiet.reference
            source, self.alert_secret = alert_service.create_source(
                Session, admin, name="Bench monitoring", kind="generic", severity=None)
            self.source_id = source.id
            Session.remove()

    def counts(self) -> dict[str, int]:
        with self.app.app_context():
            result = {name: Session.scalar(select(func.count()).select_from(model))
                      for name, model in (("incidents", Incident), ("services", Service),
                                          ("deliveries", Delivery))}
            result["notes"] = Session.scalar(select(func.count()).select_from(TimelineEntry)
                                             .where(TimelineEntry.text == NOTE_TEXT))
            Session.remove()
        return result

    # ---- measuring ------------------------------------------------------------------------

    def measure(self, attack: str, send, notes: bool = False) -> Result:
        """Time `send()` (a test-client call), with a note-taker busy meanwhile if `notes`."""
        before = self.counts()
        taker = _NoteTaker(self, attack) if notes else None
        if taker:
            taker.begin()
        self.sql.start()
        started = time.perf_counter()
        try:
            response = send()
            status, body = response.status_code, response.get_data(as_text=True)
        except Exception as exc:  # the bench reports it and carries on
            status, body = "raised", f"{type(exc).__name__}: {exc}"
            self.errors.append(f"{attack}: {body}")
        seconds = time.perf_counter() - started
        statements = self.sql.stop()
        if taker:
            self.notes.append(taker.end(started, started + seconds))
        after = self.counts()
        created = ", ".join(f"{after[k] - before[k]} {k}" for k in
                            ("incidents", "services", "deliveries"))
        result = Result(attack, status, seconds, statements, created, _answer(status, body))
        self.results.append(result)
        if status == 500:
            self.errors.append(f"{attack}: answered 500")
        return result

    def api_declare(self, attack: str, names: list[str]) -> None:
        payload = {"title": f"Bench: {attack}", "severity": "P2", "services": names}
        self.measure(attack, lambda: self.api_client.post(
            "/api/v1/incidents", json=payload,
            headers={"Authorization": f"Bearer {self.token}"}), notes=True)

    def alerts(self, attack: str, count: int, first: int) -> None:
        payload = [{"title": f"Disk filling on host {n}", "fingerprint": f"bench-{n}",
                    "severity": "high",
                    "service": f"Service {n % CATALOGUE:04d}" if n % 2 else f"Unknown {n}"}
                   for n in range(first, first + count)]
        self.measure(attack, lambda: self.api_client.post(
            f"/alerts/{self.source_id}", json=payload,
            headers={"Authorization": f"Bearer {self.alert_secret}"}), notes=True)

    def template(self, attack: str, path: Path) -> None:
        token = csrf(self.admin.get("/reports/template").get_data(as_text=True))

        def send():
            with path.open("rb") as upload:
                return self.admin.post("/reports/template", data={
                    "csrf_token": token, "template": (upload, "letterhead.docx")},
                    content_type="multipart/form-data")

        self.measure(f"{attack} ({path.stat().st_size / 1e6:.2f} MB upload)", send)


class _NoteTaker:
    """Another person, their own client: saves notes one after another until told to stop."""

    def __init__(self, bench: Bench, attack: str):
        self.bench, self.notes = bench, Notes(attack)
        self._stop, self._first = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def begin(self) -> None:
        client = self.bench.note_taker
        page = client.get(f"/incidents/{self.bench.note_reference}").get_data(as_text=True)
        self._token = csrf(page)
        self._thread.start()
        self._first.wait(30)  # the first note is on its way before the attack starts

    def _run(self) -> None:
        client, path = self.bench.note_taker, f"/incidents/{self.bench.note_reference}/notes"
        data = {"note-csrf_token": self._token, "csrf_token": self._token,
                "note-entry_type": "event", "note-text": NOTE_TEXT}
        while True:
            started = time.perf_counter()
            self._first.set()
            try:
                status = client.post(path, data=data).status_code
            except Exception as exc:  # reported, not hidden
                status = -1
                self.bench.errors.append(f"note during {self.notes.attack}: {exc!r}")
            self.notes.answers.append((started, time.perf_counter() - started, status))
            if self._stop.is_set():
                return

    def end(self, start: float, end: float) -> Notes:
        """The notes once the one being saved at the attack's answer is done."""
        self._stop.set()
        self._thread.join(60)
        self.notes.window = (start, end)
        return self.notes


def _answer(status, body: str) -> str:
    """What the answer said: a JSON error, the form's first error, or a summary."""
    try:
        data = json.loads(body)
    except ValueError:
        match = ERROR_ITEM.search(body)
        if match:
            return html.unescape(re.sub(r"<[^>]+>", "", match[1])).strip()
        return body[:200].strip() if status != 302 else "redirected (saved)"
    if "error" in data:
        fields = data.get("fields") or {}
        extra = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()
                          if " ".join(v) != data["error"])
        return data["error"] + (f" [{extra}]" if extra else "")
    if "incidents" in data and "received" in data:
        actions: dict[str, int] = {}
        for outcome in data["incidents"]:
            actions[outcome["action"]] = actions.get(outcome["action"], 0) + 1
        return f"received {data['received']}: " + ", ".join(
            f"{n} {a}" for a, n in sorted(actions.items()))
    if "reference" in data:
        return f"declared {data['reference']} with {len(data['services'])} services"
    return body[:200]


# ---- the zip bombs --------------------------------------------------------------------------


def bomb_file(directory: Path) -> Path:
    """python-docx's default document plus a 1.5 GB part of zeros, streamed a megabyte at
    a time into a file on disk (about 1.5 MB): never held in memory."""
    plain = BytesIO()
    Document().save(plain)
    path = directory / "bomb.docx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w",
                                                           zipfile.ZIP_DEFLATED) as zf:
        for info in source.infolist():
            zf.writestr(info.filename, source.read(info))
        chunk = bytes(1_000_000)
        with zf.open("word/media/image1.jpeg", "w") as stream:
            for _ in range(BOMB_BYTES // len(chunk)):
                stream.write(chunk)
    return path


def lying_copy(bomb: Path, directory: Path) -> Path:
    """The same bomb, its directory (local header and central directory) saying the part
    holds LIED_SIZE: the checks from the directory pass, so only counting while inflating
    can stop it."""
    data = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(bomb) as zf:
        info = zf.getinfo("word/media/image1.jpeg")
    name = info.filename.encode()
    local = info.header_offset
    if data[local:local + 4] != b"PK\x03\x04" or data[local + 30:local + 30 + len(name)] != name:
        raise RuntimeError("the bomb's local header is not where its directory says")
    data[local + 22:local + 26] = LIED_SIZE.to_bytes(4, "little")
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    if data[central:central + 4] != b"PK\x01\x02" or \
            data[central + 46:central + 46 + len(name)] != name:
        raise RuntimeError("the bomb's central directory entry was not found")
    data[central + 24:central + 28] = LIED_SIZE.to_bytes(4, "little")
    path = directory / "lying-bomb.docx"
    path.write_bytes(data)
    return path


# ---- the report -----------------------------------------------------------------------------


def print_table(bench: Bench) -> None:
    rows = [("attack", "status", "time (s)", "÷ 1 s", "SQL", "created", "answer")]
    notes_of = {n.attack: n for n in bench.notes}
    for r in bench.results:
        rows.append((r.attack, str(r.status), f"{r.seconds:.3f}", f"{r.seconds / TARGET_S:.3f}",
                     str(r.statements), r.created, r.answer))
        if r.attack in notes_of:
            rows.append(_notes_row(notes_of[r.attack]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  "
              + row[-1])


def _notes_row(notes: Notes) -> tuple[str, ...]:
    statuses: dict[int, int] = {}
    for _, _, status in notes.answers:
        statuses[status] = statuses.get(status, 0) + 1
    took = [a[1] for a in notes.answers]
    return ("  a note elsewhere meanwhile", ", ".join(
        f"{n} x {s}" for s, n in sorted(statuses.items())),
        f"{max(took):.3f}", f"{max(took) / TARGET_S:.3f}", "", f"{len(took)} notes",
        f"{len(notes.overlapping())} overlapped the attack; median "
        f"{statistics.median(took):.3f} s, max {max(took):.3f} s")


def main() -> int:
    started = time.perf_counter()
    workdir = Workdir("bench-hardening-")
    print(f"database: {workdir.database_url.split('@')[-1]}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    try:
        bench = Bench(workdir)
        print(f"seeded {CATALOGUE:,} services, a token, an alert source, an incident for "
              f"notes ({time.perf_counter() - started:.1f} s); app at {APP_BASE_URL}")
        before = bench.counts()
        bench.api_declare("API declare, 1,000 new services",
                          [f"New {n:04d}" for n in range(1_000)])
        bench.api_declare("API declare, 30 services, all new",
                          [f"Fresh {n:02d}" for n in range(30)])
        bench.api_declare("API declare, 30 services (20 known, 10 new)",
                          [f"Service {n * 37:04d}" for n in range(20)]
                          + [f"Added {n:02d}" for n in range(10)])
        bench.alerts("alerts, 1,500 in one request", 1_500, 0)
        bench.alerts("alerts, 100 in one request (the cap)", 100, 10_000)
        with tempfile.TemporaryDirectory(prefix="bench-bomb-") as tmp:
            built = time.perf_counter()
            bomb = bomb_file(Path(tmp))
            lying = lying_copy(bomb, Path(tmp))
            print(f"built the zip bombs in {time.perf_counter() - built:.1f} s "
                  f"({bomb.stat().st_size:,} bytes each, {BOMB_BYTES / 1e9:.1f} GB inside)")
            bench.template("template, 1.5 GB zip bomb", bomb)
            bench.template("template, the bomb's directory saying 20 MB", lying)
        after = bench.counts()
        print()
        print_table(bench)
        saved = sum(1 for n in bench.notes for a in n.answers if a[2] == 302)
        refused = [(n.attack, a) for n in bench.notes for a in n.answers if a[2] != 302]
        print(f"\nnotes: {saved} answered 302 (saved), {len(refused)} otherwise; "
              f"{after['notes'] - before['notes']} in the database")
        if refused:
            bench.errors.append(f"notes not saved: {refused}")
        if after["notes"] - before["notes"] != saved:
            bench.errors.append("a saved note is missing from the database")
        print(f"jobs queued (held, not run): {bench.jobs.queued}; whole run "
              f"{time.perf_counter() - started:.0f} s")
        for error in bench.errors:
            print(f"ERROR: {error}")
        return 1 if bench.errors else 0
    finally:
        workdir.close()


if __name__ == "__main__":
    sys.exit(main())
