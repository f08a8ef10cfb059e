"""Outages against the README's production set-up exactly as written (readme_setup: its
migration, gunicorn, worker pool and scheduler lines on PostgreSQL, a Redis of its own and
a standalone Graph sandbox).

Redis: stopped for two minutes (default) across the scheduler's ticks while P1s are
declared and updated through gunicorn, then started again. PostgreSQL: refusing
connections (ALLOW_CONNECTIONS false, open ones terminated) for a while right after a
declaration, then back. Measures, from each outage's end, how long until every delivery
of the run is out, against the issue's budget of 60 s (the ratio printed), checks each went
to the sandbox exactly once, and that no README process exited (nothing restarted by
hand); counts the pool's worker exits and the scheduler's outage log lines.

Run: `BENCH_DATABASE_URL=postgresql+psycopg://.../a_database_of_your_own .venv/bin/python
bench/bench_outage.py [redis_outage_s] [database_outage_s]` (default 120, 60). The
database is emptied first, and refuses connections during the second phase.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_bench import SANDBOX_TEAM, Workdir
from readme_setup import Deployment

BUDGET = 60.0  # seconds from an outage's end to the last delivery out (the issue's)
PIECES = {"channel", "kickoff", "broadcast", "meeting"}


class Redis:
    """A redis-server of this run's own on a free port, keeping nothing on disk."""

    def __init__(self, workdir: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir, self.process = workdir, None

    def start(self) -> None:
        from redis import Redis as Client

        self.process = subprocess.Popen(  # noqa: S603 - redis-server, fixed arguments
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL)
        client = Client.from_url(self.url, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def all_out(deployment: Deployment, references: list[str], since: float) -> float:
    """Seconds from `since` until every delivery of these incidents is delivered."""
    deadline = since + 3 * BUDGET
    while True:
        rows = {(ref, k): s for ref in references
                for k, (s, _b) in deployment.deliveries(ref).items()}
        if rows and all(s == "delivered" for s in rows.values()):
            return time.monotonic() - since
        if time.monotonic() > deadline or "failed" in rows.values():
            raise RuntimeError(f"not delivered: {[k for k, s in rows.items() if s != 'delivered']}")
        time.sleep(0.1)


def exactly_once(deployment: Deployment, references: list[str], updates: list[str]) -> str:
    from app.m365.handlers import attachment_id

    state = deployment.sandbox.state
    cards = Counter(a["id"] for m in state.messages() for a in m.get("attachments") or [])
    channels = Counter((c.get("description") or "").split(":", 1)[0]
                       for c in state.channels(SANDBOX_TEAM))
    problems = [f"{k}: {n} cards" for k, n in cards.items() if n != 1]
    problems += [f"{r}: {channels[r]} channels" for r in references if channels[r] != 1]
    problems += [f"{r}/{p}: {cards[attachment_id(f'{r}/{p}')]} posts" for r in references
                 for p in ("kickoff", "broadcast") if cards[attachment_id(f"{r}/{p}")] != 1]
    posted = Counter(u for m in state.messages() for u in updates if u in str(m))
    problems += [f"update {u!r}: {posted[u]} posts" for u in updates if posted[u] != 1]
    if len(state.meetings()) != len(references):
        problems.append(f"{len(state.meetings())} meetings for {len(references)} incidents")
    return "; ".join(problems) or "exactly once"


def alive(deployment: Deployment) -> str:
    dead = {n: p.returncode for n, p in deployment.processes.items() if p.poll() is not None}
    return f"EXITED {dead}" if dead else "all running, none restarted"


def redis_phase(deployment: Deployment, redis: Redis, outage: float
                ) -> tuple[list[str], list[str]]:
    before, _, _ = deployment.declare("Declared before Redis stops")
    deployment.wait_for_deliveries(before, PIECES)
    references, updates, pages = [before], [], []
    redis.stop()
    stopped = time.monotonic()
    n = 0
    while time.monotonic() - stopped < outage:  # a declaration and an update each ~20 s
        n += 1
        reference, _, took = deployment.declare(f"Declared while Redis is down {n}")
        update = f"Update {n} posted while Redis is down"
        pages += [took, deployment.post_update(references[-1], update)]
        references.append(reference)
        updates.append(update)
        time.sleep(max(0.0, min(20.0, outage - (time.monotonic() - stopped))))
    redis.start()
    took = all_out(deployment, references, time.monotonic())
    print(f"Redis down {outage:.0f} s, {len(references) - 1} P1s declared and "
          f"{len(updates)} updates posted meanwhile (slowest page {max(pages):.2f} s)")
    print(f"  every delivery out {took:.1f} s after Redis returned "
          f"(budget {BUDGET:.0f} s: ratio {took / BUDGET:.2f})")
    print(f"  {exactly_once(deployment, references, updates)}; processes: {alive(deployment)}")
    logs = deployment.workdir.path
    cron = (logs / "app.cron.log").read_text()
    pool = (logs / "rq-worker-pool.log").read_text()
    print(f"  scheduler log: {cron.count('Redis is unreachable')} outage line(s), "
          f"{cron.count('Traceback')} tracebacks; pool: {pool.count(' is dead')} worker "
          f"exits replaced, {pool.count('Traceback')} tracebacks")
    return references, updates


def database_phase(deployment: Deployment, outage: float, earlier: list[str],
                   updates: list[str]) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(deployment.settings.database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    reference, _, _ = deployment.declare("Declared as the database goes")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"),
                         {"name": url.database})
        page = deployment.http.get(f"{deployment.url}/incidents", timeout=30)
        time.sleep(outage)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    deployment._engine.dispose()
    took = all_out(deployment, [reference], time.monotonic())
    print(f"PostgreSQL refusing connections {outage:.0f} s right after a P1 was declared "
          f"(a page meanwhile: {page.status_code}, "
          f"{'no ' if 'Traceback' not in page.text else ''}stack trace)")
    print(f"  every delivery out {took:.1f} s after it returned "
          f"(budget {BUDGET:.0f} s: ratio {took / BUDGET:.2f})")
    print(f"  {exactly_once(deployment, [*earlier, reference], updates)} (both phases); "
          f"processes: {alive(deployment)}")


def main() -> None:
    redis_outage = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0
    database_outage = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    workdir = Workdir("bench-outage-")
    redis = Redis(workdir.path)
    redis.start()
    deployment = Deployment(workdir, redis.url)
    try:
        references, updates = redis_phase(deployment, redis, redis_outage)
        database_phase(deployment, database_outage, references, updates)
    finally:
        deployment.close()
        redis.stop()
        workdir.close()


if __name__ == "__main__":
    main()
