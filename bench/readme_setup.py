"""The README's production set-up, exactly as written, for the benchmarks that must hold
for it: the command lines of its "Run it" block (database migration, gunicorn, the RQ
worker pool, the scheduler `python -m app.cron`) spawned as they stand against PostgreSQL
and Redis, with a standalone Graph sandbox (`python -m graph.sandbox`) as Microsoft Graph
and a browser-like HTTP client signed in through the dev sign-in.

Not a benchmark itself. Read from README.md each run, so a bench can never measure a
set-up the README no longer shows. Two things differ, and are printed: gunicorn's port
(a free one, so a bench never collides with anything on 8000), and `pip install` / `npm`
lines are skipped (the virtualenv and the CSS are already built). `BENCH_WORKER_COMMAND`
replaces the worker line, to measure an alternative against the README's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from graph_bench import ROOT, SANDBOX_TEAM, ExternalSandbox, Workdir, csrf, settings_for, worker_env

README = ROOT / "README.md"
RUN = ("flask", "gunicorn", "rq", "python")  # what the block runs; pip, npm install
PERSON = ("Ada Lovelace", "ada@example.com")  # who declares


def readme_commands(text: str) -> list[str]:
    """The command lines of the README's "Run it:" block: continuations joined,
    comments dropped, spaces collapsed."""
    try:
        block = text.split("\nRun it:", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    except IndexError as exc:
        raise RuntimeError("README.md has no 'Run it:' sh block") from exc
    lines = []
    for raw in block.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(" ".join(line.split()))
    return lines


def process_name(line: str) -> str:
    """A short name for a command line's process and log: its program, rq's
    subcommand, or the module run by `python -m`."""
    words = line.split()
    if words[0] == "rq":
        return " ".join(words[:2])
    if words[0] == "python" and words[1] == "-m":
        return words[2]
    return words[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pss_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB of a process and all its descendants."""
    rss = pss = 0
    for each in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name == "Rss":
                    rss += int(value.split()[0])
                elif name == "Pss":
                    pss += int(value.split()[0])
        except OSError:
            continue
    return rss, pss


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


class Deployment:
    """The README's processes on a fresh database, Redis queue and sandbox."""

    def __init__(self, workdir: Workdir, redis_url: str, extra_env=None):
        """`extra_env(sandbox)`: more environment for the README's processes, once the
        sandbox's addresses are known (a bench's BOT_* settings)."""
        if not workdir.database_url.startswith("postgresql"):
            raise SystemExit("the README's production set-up is PostgreSQL: set "
                             "BENCH_DATABASE_URL=postgresql+psycopg://...")
        self.workdir = workdir
        self.sandbox = ExternalSandbox(workdir)
        self.clock = self.sandbox.clock
        self.settings = settings_for(workdir.database_url, self.sandbox.graph_base_url,
                                     redis_url=redis_url)
        self.env = {**worker_env(self.settings, workdir.path),
                    "PATH": f"{ROOT / '.venv/bin'}{os.pathsep}{os.environ['PATH']}",
                    **(extra_env(self.sandbox) if extra_env else {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands = self._commands()
        self._reset_redis()
        for line in self.commands:
            self._run(line)
        self._wait_until_up()
        # The administrator's part of the README: the person is a member of the team.
        self.sandbox.state.add_team_member(SANDBOX_TEAM, PERSON[1], owner=True)
        self.http = requests.Session()
        self._sign_in()

    # ---- the README's command lines --------------------------------------------------------

    def _commands(self) -> list[str]:
        lines = readme_commands(README.read_text())
        replacement = os.environ.get("BENCH_WORKER_COMMAND")
        chosen = []
        for line in lines:
            program = line.split()[0]
            if program not in RUN:
                print(f"  skipped (installation): {line}")
                continue
            if replacement and line.startswith("rq worker"):
                print(f"  README's worker line: {line}\n  replaced (BENCH_WORKER_COMMAND)")
                line = replacement
            if program == "gunicorn":
                line = re.sub(r"--bind \S+:8000", f"--bind 127.0.0.1:{self.port}", line)
            print(f"  run: {line}")
            chosen.append(line)
        return chosen

    def _run(self, line: str) -> None:
        argv = [self._expand(part) for part in shlex.split(line)]
        name = process_name(line)
        if name == "flask":  # the migration: runs to completion before the rest starts
            subprocess.run(argv, cwd=ROOT, env=self.env, check=True,  # noqa: S603
                           capture_output=True)
            return
        log = open(self.workdir.path / f"{name.replace(' ', '-')}.log", "wb")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(  # noqa: S603 - the README's own command line
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def _expand(self, part: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.env.get(m.group(1), ""), part)

    def _wait_until_up(self, timeout: float = 60.0) -> None:
        """Until gunicorn answers and every RQ worker has left "started" (a worker that
        builds the app before its first job is then ready); `self.ready_after` says
        how long after the processes started that was."""
        from rq import Worker

        started = time.monotonic()
        while True:
            dead = [name for name, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} exited: see the logs in {self.workdir.path}")
            try:
                up = requests.get(f"{self.url}/sign-in", timeout=2).status_code == 200
            except requests.RequestException:
                up = False
            ours = {pid for p in self.processes.values() for pid in [p.pid, *descendants(p.pid)]}
            workers = [w for w in Worker.all(connection=self.redis) if w.pid in ours]
            if up and workers and all(w.get_state() != "started" for w in workers):
                self.workers = len(workers)
                self.ready_after = time.monotonic() - started
                return
            if time.monotonic() - started > timeout:
                raise TimeoutError("the README's processes did not come up")
            time.sleep(0.1)

    # ---- Redis: the queue the README's worker reads ------------------------------------

    def _reset_redis(self) -> None:
        from redis import Redis
        from rq import Queue

        from app.core.job_queue import QUEUE_NAME

        self.redis = Redis.from_url(self.settings.redis_url)
        self.queue = Queue(QUEUE_NAME, connection=self.redis)
        self.queue.empty()
        self._drop_scheduled()

    def _drop_scheduled(self) -> None:
        scheduled = self.queue.scheduled_job_registry
        for job_id in scheduled.get_job_ids():
            scheduled.remove(job_id, delete_job=True)

    def wait_for_jobs(self, timeout: float = 60.0) -> None:
        """Until nothing is queued or running."""
        from rq.registry import StartedJobRegistry

        started = StartedJobRegistry(queue=self.queue)
        deadline = time.monotonic() + timeout
        while (self.queue.count or started.count) and time.monotonic() < deadline:
            time.sleep(0.02)

    def settle(self) -> None:
        """Let running work finish and drop the report rewrite each declaration schedules
        15 s on (the debounce), so it cannot land inside a later run."""
        self.wait_for_jobs()
        self._drop_scheduled()

    # ---- a person using the app ----------------------------------------------------------

    def _sign_in(self) -> None:
        token = csrf(self.http.get(f"{self.url}/sign-in", timeout=10).text)
        response = self.http.post(f"{self.url}/sign-in/dev", allow_redirects=False,
                                  timeout=10, data={"csrf_token": token, "name": PERSON[0],
                                                    "email": PERSON[1]})
        if response.status_code != 302:
            raise RuntimeError(f"dev sign-in answered {response.status_code}")

    def declare(self, title: str, severity: str = "P1") -> tuple[str, float, float]:
        """Declare through the page (the form fetched first, untimed): the reference, when
        the POST started (perf_counter) and the POST's own seconds."""
        token = csrf(self.http.get(f"{self.url}/incidents/new", timeout=10).text)
        data = {"csrf_token": token, "title": title, "severity": severity,
                "description": "Benchmark incident"}
        started = time.perf_counter()
        response = self.http.post(f"{self.url}/incidents/new", data=data,
                                  allow_redirects=False, timeout=30)
        took = time.perf_counter() - started
        if response.status_code != 302:
            raise RuntimeError(f"declare answered {response.status_code}")
        return response.headers["Location"].rsplit("/", 1)[-1], started, took

    def post_update(self, reference: str, message: str) -> float:
        """Post a status update to the incident's channel through the page; the POST's
        own seconds."""
        page = f"{self.url}/incidents/{reference}/updates/new"
        token = csrf(self.http.get(page, timeout=10).text)
        data = {"csrf_token": token, "phase": "investigating", "message": message,
                "to_channel": "y"}
        started = time.perf_counter()
        response = self.http.post(page, data=data, allow_redirects=False, timeout=30)
        took = time.perf_counter() - started
        if response.status_code != 302:
            raise RuntimeError(f"update answered {response.status_code}")
        return took

    def deliveries(self, reference: str) -> dict[str, tuple[str, str | None]]:
        """piece -> (status, the piece it waited for), from the outbox rows."""
        from sqlalchemy import create_engine, text

        engine = getattr(self, "_engine", None) or create_engine(self.settings.database_url)
        self._engine = engine
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT d.key, d.status, p.key FROM deliveries d LEFT JOIN deliveries p "
                "ON p.id = d.depends_on_id WHERE d.key LIKE :prefix"),
                {"prefix": f"{reference}/%"}).all()
        return {key.split("/", 1)[1]: (status, before and before.split("/", 1)[1])
                for key, status, before in rows}

    def wait_for_deliveries(self, reference: str, pieces, timeout: float = 60.0):
        """The outbox rows of these pieces once all are delivered (a job records its
        result after its Graph call: a piece can exist before its row says so)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.deliveries(reference)
            left = {k: s for k, (s, _b) in rows.items() if k in pieces and s != "delivered"}
            if not left:
                return rows
            if time.monotonic() > deadline or "failed" in left.values():
                raise RuntimeError(f"{reference}: not delivered: {left}")
            time.sleep(0.02)

    # ---- memory and shutdown ---------------------------------------------------------------

    def memory(self) -> dict[str, tuple[int, int, int]]:
        """name -> (processes, RSS KiB, PSS KiB) of each README process and its children."""
        result = {}
        for name, process in self.processes.items():
            rss, pss = pss_kib(process.pid)
            result[name] = (1 + len(descendants(process.pid)), rss, pss)
        return result

    def close(self) -> None:
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(5)
        if getattr(self, "_engine", None):
            self._engine.dispose()
        self.queue.empty()
        self._drop_scheduled()
        self.sandbox.stop()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal a process started here and its children (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
