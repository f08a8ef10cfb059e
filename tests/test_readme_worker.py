"""The README's worker command, run exactly as written (against a private Redis and the
Graph sandbox): racing workers send each delivery exactly once, independent deliveries
are in flight at the same time, a stalled Graph call holds up only its own delivery, and
the pool's scheduler retries that one at the time asked."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.documents.service import WRITE_KIND
from app.incidents import service
from app.outbox.models import Delivery
from graph.client import GraphClient
from graph.sandbox import SandboxServer
from graph.tokens import sandbox_token
from tests.conftest import make_settings, sandbox_tenant, use_graph
from tests.test_resilience import ROOT, private_redis, worker_env  # noqa: F401 - a fixture

ADA = "ada@example.com"
README = ROOT / "README.md"
STALL = 5.0  # seconds one Graph call hangs before the connection drops unanswered
INCIDENTS = 3
COPIES = 3  # each first-wave delivery is queued this many times, so workers race for it


def readme_worker_command() -> str:
    """The `rq worker…` line of the README's "Run it:" block, continuations joined."""
    block = README.read_text().split("\nRun it:", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    for line in block.replace("\\\n", " ").splitlines():
        if line.startswith("rq worker"):
            return " ".join(line.split(" #", 1)[0].split())
    raise AssertionError("the README's Run it block has no rq worker line")


def start(command: str, env: dict, log: Path) -> subprocess.Popen:
    argv = [re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), part)
            for part in shlex.split(command)]
    with open(log, "wb") as out:
        return subprocess.Popen(  # noqa: S603 - the README's own command line
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (a warm shutdown) to the process group started here, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.slow
class TestReadmeWorker:
    @pytest.fixture
    def settings(self, migrated, private_redis):  # noqa: F811 - the fixture, by name
        return make_settings(migrated, redis_url=private_redis.url)

    def test_deliveries_go_out_together_once_each_and_a_stall_holds_up_only_itself(
            self, app, session, org, migrated, private_redis, tmp_path):  # noqa: F811
        with SandboxServer() as sandbox:
            sandbox_tenant(sandbox.state, ADA)
            sandbox.faults.configure(latency=0.1, hang=STALL)
            sandbox.faults.fail_next(1, "timeout", "/onlineMeetings")
            base = sandbox.graph_base_url
            use_graph(app, GraphClient(base, sandbox_token(base, ADA)))
            ada = User(entra_oid="dev-ada", name="Ada", email=ADA)
            session.add(ada)
            session.commit()
            env = {**worker_env(migrated, base, tmp_path), "REDIS_URL": private_redis.url,
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
            log = tmp_path / "worker.log"
            command = readme_worker_command()
            worker = start(command, env, log)
            try:
                wait_ready(app.extensions["jobs"].connection, workers_in(command), worker, log)
                with app.app_context():  # declaring queues each first delivery in Redis
                    for n in range(INCIDENTS):
                        service.declare(session, org, ada, title=f"Pool {n}", description="",
                                        severity="P1", effects=app.extensions["effects"])
                    first_wave = session.scalars(select(Delivery.id).where(
                        Delivery.depends_on_id.is_(None))).all()
                    for _copy in range(COPIES - 1):  # as if the sweep had queued them too
                        for delivery_id in first_wave:
                            app.extensions["jobs"].enqueue("app.jobs.deliver", delivery_id)
                session.remove()
                statuses = wait_delivered(session, worker, log)
            finally:
                stop(worker)
            requests = sandbox.state.requests()

        assert statuses == {"delivered": 3 * INCIDENTS}, (statuses, log.read_text()[-3000:])
        calls = Counter((r["method"], kind(r["path"])) for r in requests)
        # Exactly once: one attempt per channel and per post, whatever raced for them;
        # the stalled meeting's retry is the one extra meeting call.
        assert calls[("POST", "channel")] == INCIDENTS, calls
        assert calls[("POST", "message")] == INCIDENTS, calls
        assert calls[("POST", "meeting")] == INCIDENTS + 1, calls
        [stalled] = [r for r in requests if r["fault"] == "timeout"]
        stall_from, stall_until = at(stalled) - stalled["duration"], at(stalled)
        made = [r for r in requests if r["method"] == "POST" and 200 <= r["status"] < 300]
        # Everything but the stalled meeting was made while that call hung...
        others = [r for r in made if at(r) < stall_until]
        assert len(others) == len(made) - 1, [
            (kind(r["path"]), round(at(r) - stall_from, 2)) for r in made]
        # ...with calls in flight at the same time, and the retry came after the stall.
        assert any(at(a) - a["duration"] < at(b) - b["duration"] < at(a)
                   for a in made for b in made if a is not b), made
        assert any(at(r) > stall_until for r in made if kind(r["path"]) == "meeting")


def workers_in(command: str) -> int:
    match = re.search(r"(?:--num-workers|-n)[ =](\d+)", command)
    return int(match.group(1)) if match else 1


def wait_ready(redis, count: int, worker: subprocess.Popen, log: Path) -> None:
    """Until `count` workers have built the app and wait for jobs (state idle)."""
    from rq import Worker

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        states = [w.get_state() for w in Worker.all(connection=redis)]
        if len(states) >= count and all(state == "idle" for state in states):
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited {worker.returncode}: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"{count} workers were not ready: {log.read_text()[-3000:]}")


def wait_delivered(session, worker: subprocess.Popen, log: Path) -> Counter:
    deadline = time.monotonic() + 90
    statuses: Counter = Counter()
    while time.monotonic() < deadline:
        statuses = Counter(d.status for d in session.scalars(  # Teams and mail, not reports
            select(Delivery).where(Delivery.kind != WRITE_KIND)))
        session.remove()
        if set(statuses) == {"delivered"} and statuses["delivered"] == 3 * INCIDENTS:
            break
        if worker.poll() is not None:
            pytest.fail(f"the worker exited {worker.returncode}: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    return statuses


def kind(path: str) -> str:
    path = path.split("?", 1)[0]
    if "/onlineMeetings" in path:
        return "meeting"
    if path.endswith("/messages"):
        return "message"
    if path.endswith("/channels"):
        return "channel"
    return "other"


def at(entry: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()
