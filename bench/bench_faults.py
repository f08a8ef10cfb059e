"""Deliveries through faults, stalls and killed workers, with the README's production
set-up exactly as written (readme_setup: gunicorn, the 4-worker `rq worker-pool`, the
scheduler, on PostgreSQL and Redis) and a standalone sandbox as Microsoft Graph.

1. Faults: a P1 is declared; then the sandbox fails `rate` of Graph requests (429, 503,
   504, a 10 s stall that ends with no answer, a lost response: applied, then 504) and 50
   updates are posted through the update page, each to the incident's channel and by
   email to three mailboxes. Prints the time from the last update's POST to the last
   delivery (÷ 120 s) and checks exactly once: each update's card once in the channel,
   each email once, to each of the three, and no draft left in any mailbox.
2. Kills: with no random faults, an update is posted while its Teams post (then its
   draft, then the draft's send) stalls in the sandbox, and the pool worker running it
   is SIGKILLed mid-call, three times. Prints each delivery's time from the kill and from
   the pool's restart of the worker until it was out, and the same exactly-once checks.

Run: `BENCH_DATABASE_URL=postgresql+psycopg://... REDIS_URL=redis://... .venv/bin/python
bench/bench_faults.py [rate] [stall_s] [updates]` (default 0.3, 10, 50).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_declare import WHAT
from graph_bench import Workdir, csrf
from readme_setup import PERSON, Deployment

MAILBOXES = ("ops-lead@example.org", "comms@example.org", "exec-desk@example.org")
TARGET = 120.0  # seconds from the last update to the last delivery (the issue's)
KILL_TARGET = 60.0  # seconds from a worker's restart to its delivery being out
FAULT_KINDS = ["429", "503", "504", "timeout", "lost_response"]


def post_update(deployment: Deployment, reference: str, n: int) -> float:
    """One update through the page, to the channel and the three mailboxes; returns when
    its POST was answered (wall clock, as the workers stamp delivered_at)."""
    url = f"{deployment.url}/incidents/{reference}/updates/new"
    token = csrf(deployment.http.get(url, timeout=30).text)
    response = deployment.http.post(url, allow_redirects=False, timeout=30, data={
        "csrf_token": token, "phase": "investigating", "to_channel": "y",
        "message": f"Update {n}: card payments are slow; we are rolling back.",
        "extra_recipients": "\n".join(MAILBOXES)})
    if response.status_code != 302:
        raise RuntimeError(f"update {n}: the page answered {response.status_code}")
    return time.time()


def update_rows(deployment: Deployment, reference: str) -> list[tuple]:
    """(key, status, delivered_at epoch, attempts, last_error) of the updates' deliveries."""
    from sqlalchemy import create_engine, text

    engine = getattr(deployment, "_engine", None) or create_engine(deployment.settings.database_url)
    deployment._engine = engine
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT key, status, delivered_at, attempts, last_error FROM deliveries "
            "WHERE key LIKE :prefix ORDER BY id"), {"prefix": f"{reference}/update/%"}).all()
    return [(key, status, at.timestamp() if at else None, attempts, error)
            for key, status, at, attempts, error in rows]


def wait_out(deployment: Deployment, reference: str, count: int, timeout: float) -> list:
    """Until `count` update deliveries exist and none is pending or sending."""
    deadline = time.monotonic() + timeout
    while True:
        rows = update_rows(deployment, reference)
        if len(rows) >= count and all(r[1] in ("delivered", "failed") for r in rows):
            return rows
        if time.monotonic() > deadline:
            left = Counter(r[1] for r in rows)
            raise RuntimeError(f"not all out within {timeout:.0f} s: {dict(left)}")
        time.sleep(0.05)


def exactly_once(deployment: Deployment, reference: str, keys: list[str]) -> list[str]:
    """What broke exactly-once, in words (empty if nothing did)."""
    from app.m365.handlers import attachment_id

    state = deployment.sandbox.state
    problems = []
    cards = Counter(a["id"] for m in state.messages() for a in m.get("attachments") or [])
    mails = state.mails()
    for key in keys:
        if key.endswith("/teams") and cards[attachment_id(key)] != 1:
            problems.append(f"{key}: {cards[attachment_id(key)]} cards in Teams")
        if "/mail/" in key:
            sent = [m for m in mails if key in json.dumps(m.get("headers") or {})]
            if len(sent) != 1:
                problems.append(f"{key}: sent {len(sent)} times")
                continue
            # The P1's own stakeholders (the seeded contacts) get it too.
            bcc = Counter(a.lower() for a in sent[0].get("bcc") or [])
            if any(bcc[box] != 1 for box in MAILBOXES):
                problems.append(f"{key}: to the three mailboxes {[bcc[b] for b in MAILBOXES]} "
                                "times")
    drafts = state.drafts()
    if drafts:
        problems.append(f"{len(drafts)} drafts left in mailboxes")
    return problems


def faults(deployment: Deployment, reference: str, rate: float, stall: float,
           updates: int) -> bool:
    deployment.sandbox.configure(latency=0.05, error_rate=rate, kinds=FAULT_KINDS,
                                 hang=stall, retry_after=1.0, seed=7)
    started = time.time()
    last = started
    for n in range(1, updates + 1):
        last = post_update(deployment, reference, n)
    posting = last - started
    rows = wait_out(deployment, reference, 2 * updates, timeout=900)
    injected = _injected(deployment)
    deployment.sandbox.configure(latency=0.0, error_rate=0.0)
    delivered = [r for r in rows if r[1] == "delivered"]
    failed = [r for r in rows if r[1] == "failed"]
    out = max(r[2] for r in delivered) - last if delivered else float("nan")
    problems = exactly_once(deployment, reference, [r[0] for r in rows])
    attempts = Counter(r[3] for r in rows)
    print(f"\n1. {updates} updates (channel + 3 mailboxes each) at {rate:.0%} faults, "
          f"{stall:.0f} s stalls; posted in {posting:.1f} s")
    print(f"   faults injected: {injected}")
    print(f"   deliveries: {len(delivered)} delivered, {len(failed)} failed; attempts "
          f"per delivery: {dict(sorted(attempts.items()))}")
    for key, _s, _at, _a, error in failed:
        print(f"   FAILED {key}: {error}")
    print(f"   last update POST to last delivery: {out:.1f} s; / {TARGET:.0f} s = "
          f"{out / TARGET:.2f}")
    print(f"   exactly once: {'yes' if not problems else 'NO'}")
    for problem in problems[:10]:
        print(f"     {problem}")
    return not problems and not failed and out <= TARGET


def _injected(deployment: Deployment) -> dict:
    import requests

    answer = requests.get(f"{deployment.sandbox.url}/_sandbox/faults", timeout=5).json()
    return answer.get("injected", answer)


def _busy_with(deployment: Deployment, delivery_id: int):
    """The pool worker whose current job delivers `delivery_id`, if any."""
    from rq import Worker

    for worker in Worker.all(connection=deployment.redis):
        job = worker.get_current_job()
        if job is not None and job.func_name == "app.jobs.deliver" and \
                list(job.args) == [delivery_id] and _alive(worker.pid):
            return worker
    return None


def _delivery_id(deployment: Deployment, key: str) -> int | None:
    from sqlalchemy import text

    with deployment._engine.connect() as conn:
        return conn.execute(text("SELECT id FROM deliveries WHERE key = :key"),
                            {"key": key}).scalar()


def _result(deployment: Deployment, key: str) -> dict:
    from sqlalchemy import text

    with deployment._engine.connect() as conn:
        value = conn.execute(text("SELECT result FROM deliveries WHERE key = :key"),
                             {"key": key}).scalar()
    return value if isinstance(value, dict) else json.loads(value)


def _pool_size(deployment: Deployment) -> int:
    from rq import Worker

    return sum(1 for w in Worker.all(connection=deployment.redis)
               if _alive(w.pid))


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kills(deployment: Deployment, reference: str, first_update: int, stall: float) -> bool:
    # (which piece to stall and kill, the request it stalls on)
    channel = _result(deployment, f"{reference}/channel")["channel_id"]
    targets = [("teams", f"/channels/{channel}/messages"),
               ("mail/1", "POST /v1.0/me/messages"), ("mail/1", "/send")]
    print(f"\n2. SIGKILL a pool worker mid-delivery (its Graph call stalled {stall:.0f} s), "
          "three times")
    ok = True
    for n, (piece, fragment) in enumerate(targets, start=first_update):
        deployment.sandbox.configure(latency=0.0, error_rate=0.0, hang=stall)
        requests_post(deployment, {"count": 1, "kind": "timeout", "path_contains": fragment})
        before = {r[0] for r in update_rows(deployment, reference)}
        post_update(deployment, reference, n)
        rows = update_rows(deployment, reference)
        key = next(r[0] for r in rows if r[0] not in before and r[0].endswith(piece))
        delivery_id = _delivery_id(deployment, key)
        deadline = time.monotonic() + 30
        worker = None
        while worker is None and time.monotonic() < deadline:
            if _stalled(deployment) is False:
                worker = _busy_with(deployment, delivery_id)
            time.sleep(0.02)
        if worker is None:
            print(f"   {key}: never caught mid-call")
            ok = False
            continue
        time.sleep(1.0)  # well inside the stalled call
        size = _pool_size(deployment)
        killed_at = time.time()
        try:
            os.kill(worker.pid, signal.SIGKILL)  # a process of the pool started here
        except ProcessLookupError:
            print(f"   {key}: worker {worker.pid} was gone before the kill")
            ok = False
            continue
        while _alive(worker.pid) or _pool_size(deployment) < size:
            time.sleep(0.05)
        restarted_at = time.time()
        out = wait_out(deployment, reference, len(before) + 2, timeout=300)
        row = next(r for r in out if r[0] == key)
        problems = exactly_once(deployment, reference, [r[0] for r in out])
        since_restart = row[2] - restarted_at if row[2] else float("nan")
        print(f"   {key} ({fragment!r} stalled): worker {worker.pid} killed; pool restarted "
              f"it {restarted_at - killed_at:.1f} s later; out {row[2] - killed_at:.1f} s "
              f"after the kill, {since_restart:.1f} s after the restart "
              f"(/ {KILL_TARGET:.0f} s = {since_restart / KILL_TARGET:.2f}); "
              f"{row[1]}, attempts {row[3]}; exactly once: "
              f"{problems[:3] or 'yes'}")
        ok = ok and row[1] == "delivered" and since_restart <= KILL_TARGET and not problems
    return ok


def _stalled(deployment: Deployment) -> bool:
    """Whether the targeted stall is still waiting for its request (pending)."""
    import requests

    return requests.get(f"{deployment.sandbox.url}/_sandbox/faults",
                        timeout=5).json().get("pending", 0) > 0


def requests_post(deployment: Deployment, fail_next: dict) -> None:
    import requests

    requests.post(f"{deployment.sandbox.url}/_sandbox/faults", json={"fail_next": fail_next},
                  timeout=5).raise_for_status()


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3
    stall = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    updates = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    print(f"{datetime.now():%Y-%m-%d %H:%M}; {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f}")
    workdir = Workdir("bench-faults-")
    deployment = Deployment(workdir, redis_url)
    try:
        print(f"   {deployment.workers} pool workers up; {PERSON[0]} declares a P1")
        reference, _started, _post = deployment.declare("Card payments failing")
        deployment.wait_for_deliveries(reference, WHAT, timeout=120)
        deployment.settle()
        passed = faults(deployment, reference, rate, stall, updates)
        passed = kills(deployment, reference, updates + 1, 20.0) and passed
        print(f"\nload at the end {os.getloadavg()[0]:.2f}; "
              f"{'PASS' if passed else 'FAIL'}")
    finally:
        deployment.close()
        workdir.close()


if __name__ == "__main__":
    main()
