"""Shared by the Graph benchmarks (bench_declare, bench_mail, bench_contacts): a temporary
database built by the migrations, the app pointed at a SandboxServer through the real
GraphClient, a signed-in test client, and a clock on the sandbox's request log.

Not a benchmark itself. The app is configured as a tenant would be (GRAPH_BASE_URL and
the M365_* ids of the sandbox's default tenant), so deliveries go through the app's own
`graph_for` (a GraphClient per delivery, `graph.tokens.sandbox_token` as the person).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.m365.sandbox_host import (  # noqa: E402 - after the path set-up above
    SANDBOX_BROADCAST,
    SANDBOX_DRIVE,
    SANDBOX_LIST,
    SANDBOX_SITE,
    SANDBOX_TEAM,
)

APP_BASE_URL = "http://incident-desk.test"
SECRET = "bench-secret-key-not-for-production"  # noqa: S105 - a throwaway database
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Workdir:
    """A temporary directory with a migrated database; removed by `close`. SQLite in the
    directory, or BENCH_DATABASE_URL (e.g. PostgreSQL), emptied and migrated first."""

    def __init__(self, prefix: str):
        from app.cli import upgrade

        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self.database_url = os.environ.get("BENCH_DATABASE_URL") or \
            f"sqlite:///{self.path / 'bench.db'}"
        if self.database_url.startswith("postgresql"):
            from sqlalchemy import create_engine, text

            engine = create_engine(self.database_url)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        upgrade(self.database_url)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def settings_for(database_url: str, graph_base_url: str, redis_url: str | None = None,
                 **overrides):
    """The app's settings with Microsoft 365 at `graph_base_url` (the sandbox's default
    tenant ids), no background sweep, and in-process jobs unless `redis_url`."""
    from app.config import Settings

    values = dict(
        secret_key=SECRET, database_url=database_url, redis_url=redis_url,
        background_sweep=False, graph_base_url=graph_base_url, graph_sandbox_db=":memory:",
        teams_team_id=SANDBOX_TEAM, teams_broadcast_channel_id=SANDBOX_BROADCAST,
        mail_from=None, service_account=None, teams_webhook_url=None,
        contacts_site_id=SANDBOX_SITE, contacts_list_id=SANDBOX_LIST, contacts_fields=None,
        reports_drive_id=SANDBOX_DRIVE, report_template_path=None,
        app_base_url=APP_BASE_URL, entra_tenant_id=None, entra_client_id=None,
        entra_client_secret=None, admin_emails=frozenset(), security_emails=frozenset(),
        org_config_path=None, severity_scale="p123", timezone="Europe/London",
        working_hours="10:00-18:00", secure_cookies=False,
        dev_sign_in=True)  # the benches sign people in with the development form
    values.update(overrides)
    return Settings(**values)


def worker_env(settings, workdir: Path) -> dict[str, str]:
    """The same settings as environment variables, for `rq worker` processes."""
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "REDIS_URL": settings.redis_url or "", "GRAPH_BASE_URL": settings.graph_base_url,
           "M365_TEAM_ID": settings.teams_team_id or "",
           "M365_BROADCAST_CHANNEL_ID": settings.teams_broadcast_channel_id or "",
           "M365_REPORTS_DRIVE_ID": settings.reports_drive_id or "",
           "M365_CONTACTS_SITE_ID": settings.contacts_site_id or "",
           "M365_CONTACTS_LIST_ID": settings.contacts_list_id or "",
           "SECRET_KEY": settings.secret_key, "BACKGROUND_SWEEP": "false",
           "APP_BASE_URL": settings.app_base_url, "TIMEZONE": settings.timezone,
           "INCIDENT_DESK_INSTANCE": str(workdir), "PYTHONPATH": str(ROOT),
           "DEV_SIGN_IN": "1" if settings.dev_sign_in else ""}
    for name in ("M365_MAIL_FROM", "M365_SERVICE_ACCOUNT", "M365_TEAMS_WEBHOOK_URL",
                 "M365_REPORT_TEMPLATE", "ENTRA_TENANT_ID", "ENTRA_CLIENT_ID",
                 "ENTRA_CLIENT_SECRET", "INCIDENT_DESK_ORG_CONFIG"):
        env.pop(name, None)
    return env


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    if not match:
        raise RuntimeError("page has no CSRF token")
    return match.group(1) or match.group(2)


def signed_in_client(app, name: str = "Ada Lovelace", email: str = "ada@example.com"):
    client = app.test_client()
    token = csrf(client.get("/sign-in").get_data(as_text=True))
    response = client.post("/sign-in/dev", data={"csrf_token": token, "name": name,
                                                  "email": email})
    if response.status_code != 302:
        raise RuntimeError(f"dev sign-in answered {response.status_code}")
    return client


def declare(client, title: str, severity: str = "P1") -> tuple[str, float, float]:
    """Declare through the page (the form is fetched first, untimed); returns the
    reference, when the POST started (perf_counter) and the POST's own seconds."""
    token = csrf(client.get("/incidents/new").get_data(as_text=True))
    data = {"csrf_token": token, "title": title, "severity": severity,
            "description": "Benchmark incident"}
    started = time.perf_counter()
    response = client.post("/incidents/new", data=data)
    took = time.perf_counter() - started
    if response.status_code != 302:
        raise RuntimeError(f"declare answered {response.status_code}")
    return response.location.rsplit("/", 1)[-1], started, took


class RequestClock:
    """Stamps every request the sandbox logs with `time.perf_counter()` at the moment
    its answer is ready (the sandbox logs after applying a request, before replying), so
    "it exists in Microsoft 365 at" can be read off without polling the sandbox."""

    def __init__(self, state):
        self.entries: list[tuple[float, dict]] = []
        self._changed = threading.Condition()
        original = state.log_request

        def log_request(entry: dict) -> None:
            original(entry)
            with self._changed:
                self.entries.append((time.perf_counter(), entry))
                self._changed.notify_all()

        state.log_request = log_request

    def mark(self) -> int:
        with self._changed:
            return len(self.entries)

    def since(self, mark: int) -> list[tuple[float, dict]]:
        with self._changed:
            return list(self.entries[mark:])

    def wait_for(self, done: Callable[[list[tuple[float, dict]]], bool], mark: int,
                 timeout: float) -> list[tuple[float, dict]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.entries[mark:]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"not done after {timeout:.0f} s")
                self._changed.wait(left)
            return list(self.entries[mark:])


def median(values) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


class ExternalSandbox:
    """The sandbox as its own process (`python -m graph.sandbox`), as a tenant's Graph is:
    it does not compete with the app for this process's GIL. Faults are set through its
    control URL; its state file is read here; a thread turns its request log into a
    RequestClock (each entry's logged time, in milliseconds)."""

    def __init__(self, workdir: Workdir):
        import socket

        from graph.sandbox import SandboxState

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        db = workdir.path / "sandbox.db"
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-m", "graph.sandbox", "--port", str(port), "--db", str(db)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.authority_host = self.ca_file = ""
        for line in self.process.stdout:  # its Entra (a TLS listener of its own): the bot's
            if line.startswith("Entra: "):
                fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
                self.authority_host, self.ca_file = fields["authority"], fields["ca_file"]
                break
        threading.Thread(target=self.process.stdout.read, daemon=True).start()  # drain
        self.url = f"http://127.0.0.1:{port}"
        self.graph_base_url = f"{self.url}/v1.0"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{self.url}/_sandbox/state", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.state = SandboxState(db)
        self.faults = self
        self.clock = _PolledClock(self.state)

    def configure(self, **settings) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json=settings,
                      timeout=5).raise_for_status()

    def stop(self) -> None:
        self.clock.stop()
        self.process.terminate()
        self.process.wait(10)


class _PolledClock(RequestClock):
    """RequestClock for a sandbox in another process: polls its shared request log and
    stamps each entry with the time the sandbox logged it (after applying it)."""

    def __init__(self, state):
        from datetime import datetime

        self.entries = []
        self._changed = threading.Condition()
        self._state, self._stopped = state, threading.Event()
        # wall-clock to perf_counter, measured once
        self._offset = time.time() - time.perf_counter()
        self._parse = lambda at: datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        # Only the rows logged since the last look: re-reading the whole log every 5 ms
        # took a good share of a core from the system under test.
        import json

        seen = 0
        while not self._stopped.wait(0.005):
            with self._state.read() as tx:
                rows = tx.conn.execute(
                    "SELECT seq, body FROM docs WHERE kind = 'request' AND seq > ? "
                    "ORDER BY seq", (seen,)).fetchall()
            if rows:
                with self._changed:
                    for seq, body in rows:
                        entry = json.loads(body)
                        self.entries.append((self._parse(entry["at"]) - self._offset, entry))
                        seen = seq
                    self._changed.notify_all()

    def stop(self) -> None:
        self._stopped.set()


class SandboxedApp:
    """The app (test client, signed in) on a fresh SandboxServer seeded with the default
    tenant, with a RequestClock on its log. Jobs run in the app's in-process threads, or,
    with `redis_url`, in `rq worker` processes started here (BENCH_RQ_WORKERS, default 4;
    BENCH_RQ_WORKER_CLASS to pick the worker class)."""

    def __init__(self, workdir: Workdir, redis_url: str | None, **overrides):
        from app import create_app
        from graph.sandbox import SandboxServer, seed_defaults

        self.workdir = workdir
        if os.environ.get("BENCH_SANDBOX", "process") == "process":
            self.sandbox = ExternalSandbox(workdir)  # seeded by `python -m graph.sandbox`
            self.clock = self.sandbox.clock
        else:  # BENCH_SANDBOX=thread: in this process, as the tests run it
            self.sandbox = SandboxServer().start()
            seed_defaults(self.sandbox.state)
            self.clock = RequestClock(self.sandbox.state)
        # The administrator's part of the README: the person declaring is in the team.
        self.sandbox.state.add_team_member(SANDBOX_TEAM, "ada@example.com", owner=True)
        self.settings = settings_for(workdir.database_url, self.sandbox.graph_base_url,
                                     redis_url=redis_url, **overrides)
        self.app = create_app(self.settings, TESTING=True, SERVER_NAME="incident-desk.test")
        self.client = signed_in_client(self.app)
        self.workers: list[subprocess.Popen] = []
        self.count = 0  # declarations so far, for distinct titles
        if self.jobs.kind == "rq":
            self.jobs.queue.empty()
            self._start_workers(int(os.environ.get("BENCH_RQ_WORKERS", "4")))

    @property
    def jobs(self):
        return self.app.extensions["jobs"]

    def _start_workers(self, count: int) -> None:
        from app.core.job_queue import QUEUE_NAME

        env = worker_env(self.settings, self.workdir.path)
        worker_class = os.environ.get("BENCH_RQ_WORKER_CLASS")
        extra = ["--worker-class", worker_class] if worker_class else []
        for _ in range(count):
            self.workers.append(subprocess.Popen(  # noqa: S603 - our own rq, fixed arguments
                [str(ROOT / ".venv/bin/rq"), "worker", "--url", self.settings.redis_url,
                 "--with-scheduler", "--quiet", *extra, QUEUE_NAME],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL))

    def close(self) -> None:
        if self.jobs.kind == "rq":
            self.jobs.queue.empty()
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.jobs.shutdown()
        self.app.extensions["db_engine"].dispose()
        self.sandbox.stop()

    # ---- between runs --------------------------------------------------------------------

    def settle(self, timeout: float = 120.0) -> None:
        """Let running work finish and drop what would run later (the report rewrite
        each declaration schedules DEBOUNCE seconds on, which would otherwise land in the
        middle of a later run). In production the sweep would pick those up."""
        if self.jobs.kind == "rq":
            from rq.registry import StartedJobRegistry

            queue = self.jobs.queue
            queue.empty()
            started = StartedJobRegistry(queue=queue)
            deadline = time.monotonic() + timeout
            while started.count and time.monotonic() < deadline:
                time.sleep(0.02)
            scheduled = queue.scheduled_job_registry
            for job_id in scheduled.get_job_ids():
                scheduled.remove(job_id, delete_job=True)
            return
        from app.core.job_queue import InProcessJobs

        self.jobs.shutdown()  # waits for running jobs, cancels queued ones and timers
        self.app.extensions["jobs"] = InProcessJobs(self.app)

    def wait_for_jobs(self, timeout: float = 60.0) -> None:
        if self.jobs.kind == "rq":
            from rq.registry import StartedJobRegistry

            started = StartedJobRegistry(queue=self.jobs.queue)
            deadline = time.monotonic() + timeout
            while (self.jobs.queue.count or started.count) and time.monotonic() < deadline:
                time.sleep(0.02)
        else:
            self.jobs.wait(timeout)
