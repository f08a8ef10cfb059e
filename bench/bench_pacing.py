"""Pacing within Graph's documented limits: a burst of updates to one incident channel,
and a flood of incidents opened by alerts, against a sandbox that enforces Microsoft's
limits (4 channel posts a second per app per channel, 50 per app per tenant, 4 requests
at a time per mailbox: graph/sandbox/throttling.py).

1. Burst: one P2 is declared, then `updates` (default 50) updates are posted to its
   Teams channel through the update page as fast as it takes them.
2. Flood: `alerts` (default 200) distinct critical alerts are posted to the alert intake
   one after another (a few seconds: "within a minute"); each opens a P1, whose kickoff
   goes to its own channel and whose announcement goes to the one broadcast channel.

For each it prints the 429s the sandbox answered (target 0); whether everything was
delivered exactly once (every delivery delivered, each card once in Teams, one channel,
meeting and running report per incident); and total time ÷ the time the limits allow
(target <= 1.2). Total time runs from the first POST to the last Graph request that made
something. The time the limits allow is the least the busiest limit needs for its posts:
n posts at 4 a second per channel take (ceil(n / 4) - 1) seconds after the first, as
Graph's window allows 4 at once (so do n channels made in one team, at 4 a second on
the team); the flood is also bounded by how long its alerts took to arrive.

The app runs in this process (Flask test client), the sandbox in its own process
(graph_bench.ExternalSandbox, its request log read from its state file). Jobs run in the
app's 4 in-process threads, and, with REDIS_URL, in 4 `rq worker` processes
(BENCH_RQ_WORKERS; BENCH_RQ_WORKER_CLASS, default the README's rq.worker.SimpleWorker).
BENCH_DATABASE_URL picks PostgreSQL.

Run: `.venv/bin/python bench/bench_pacing.py [updates] [alerts]`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_bench import (
    SANDBOX_BROADCAST,
    SANDBOX_TEAM,
    SandboxedApp,
    Workdir,
    csrf,
    declare,
)

TEAMS_PER_CHANNEL, TEAMS_PER_TEAM, TEAMS_PER_TENANT = 4, 4, 50  # the sandbox enforces, a second
TARGET_RATIO = 1.2
ALERT_ACTOR = "alert-intake@incident-desk.invalid"  # app/alerts/service.py's system user


def posts_on(entries, channel: str | None = None, exclude: str | None = None) -> list:
    """Channel posts that Teams took, on `channel` (or on any but `exclude`)."""
    found = []
    for stamp, entry in entries:
        path = unquote(entry["path"].split("?", 1)[0])
        if entry["method"] != "POST" or entry["status"] != 201 or \
                not path.endswith("/messages"):
            continue
        if channel and f"/channels/{channel}/" not in path:
            continue
        if exclude and f"/channels/{exclude}/" in path:
            continue
        found.append(stamp)
    return found


def kind_of(entry: dict, incident_post: str = "kickoff") -> str:
    """What a request made; a post to an incident channel is its `incident_post` (the
    flood's are kickoffs, the burst's updates)."""
    path = unquote(entry["path"].split("?", 1)[0])
    if path.endswith("/messages"):
        return "broadcast" if f"/channels/{SANDBOX_BROADCAST}/" in path else incident_post
    if path.endswith("/channels"):
        return "channel"
    if "/onlineMeetings" in path:
        return "meeting"
    if path.startswith("/v1.0/drives/") or "/upload" in path:
        return "report"
    return "other"


def last_of_each(entries, started: float) -> dict[str, float]:
    """When the last creating request of each kind was done, after `started`."""
    last: dict[str, float] = {}
    for stamp, entry in entries:
        if entry["method"] != "GET" and 200 <= entry["status"] < 300:
            kind = kind_of(entry)
            last[kind] = max(last.get(kind, 0.0), stamp - started)
    return last


def first_made(entries, started: float) -> float:
    """When the last piece was first made: a report's rewrites (the refresh its own
    incident's later timeline entries ask for, DEBOUNCE after them) make nothing new."""
    seen: set[str] = set()
    last = 0.0
    for stamp, entry in entries:
        if entry["method"] != "GET" and 200 <= entry["status"] < 300:
            if kind_of(entry) == "report":
                path = entry["path"].split("?", 1)[0]
                if path in seen:
                    continue
                seen.add(path)
            last = max(last, stamp - started)
    return last


def throttled(entries, started: float, incident_post: str = "kickoff") -> list[str]:
    """The 429s: what each was for, and when (seconds after `started`)."""
    return [f"{kind_of(e, incident_post)} at {stamp - started:.2f} s" for stamp, e in entries
            if e["status"] == 429]


def allowed(posts: int, per_second: int) -> float:
    return (math.ceil(posts / per_second) - 1) * 1.0


class Bench(SandboxedApp):
    def __init__(self, workdir: Workdir, redis_url: str | None):
        # The flood measures pacing, so its one source may open every incident it asks for
        # (by default a source opens 5 an hour and groups the rest: ALERT_INCIDENTS_PER_HOUR).
        super().__init__(workdir, redis_url, alert_incidents_per_hour=1_000_000)
        limits = self.sandbox.state.limits()
        if (limits.teams_rps_per_channel, limits.teams_rps_per_tenant) != (
                TEAMS_PER_CHANNEL, TEAMS_PER_TENANT):
            raise RuntimeError(f"the sandbox does not enforce the documented limits: {limits}")
        # An administrator's set-up: whom the work acts as is in the team (the person
        # signed in here, and the account alert work acts as).
        for person in ("ada@example.com", ALERT_ACTOR):
            self.sandbox.state.add_team_member(SANDBOX_TEAM, person, owner=True)

    def deliveries(self, prefix: str = "") -> list:
        from sqlalchemy import select

        from app.db import Session
        from app.outbox.models import Delivery

        with self.app.app_context():
            rows = Session.scalars(select(Delivery).where(
                Delivery.key.startswith(prefix))).all()
            Session.remove()
        return rows

    def wait_delivered(self, prefix: str, timeout: float = 120.0) -> list:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.deliveries(prefix)
            if rows and all(row.status == "delivered" for row in rows):
                return rows
            if time.monotonic() > deadline:
                raise RuntimeError(f"not delivered: {Counter(r.status for r in rows)}")
            time.sleep(0.2)

    def reports_done(self, references: list[str], timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            files = [f["path"] for f in self.sandbox.state.files()]
            done = sum(1 for ref in references if sum(
                1 for p in files if ref in p and "Running incident report" in p) == 1)
            if done == len(references) or time.monotonic() > deadline:
                return done
            time.sleep(0.5)

    # ---- 1. a burst of updates -------------------------------------------------------------

    def burst(self, count: int) -> dict:
        reference, _started, _post = declare(self.client, "Checkout failing", "P2")
        self.wait_delivered(f"{reference}/")
        [channel] = [c["id"] for c in self.sandbox.state.channels()
                     if (c.get("description") or "").startswith(f"{reference}:")]
        page = f"/incidents/{reference}/updates/new"
        token = csrf(self.client.get(page).get_data(as_text=True))
        time.sleep(1.5)  # the kickoff's second has passed: the channel's window is empty
        mark = self.clock.mark()
        started = time.perf_counter()
        for n in range(count):
            answer = self.client.post(page, data={
                "csrf_token": token, "phase": "investigating", "to_channel": "y",
                "message": f"Update {n}: still looking at the payment provider."})
            if answer.status_code != 302:
                raise RuntimeError(f"update page answered {answer.status_code}")
        posted = time.perf_counter() - started
        entries = self.clock.wait_for(
            lambda found: len(posts_on(found, channel)) >= count, mark, timeout=300)
        rows = self.wait_delivered(f"{reference}/update/")
        self.wait_for_jobs()
        entries = self.clock.since(mark)
        from app.m365.handlers import attachment_id

        cards = Counter(a["id"] for m in self.sandbox.state.messages(channel_id=channel)
                        for a in m["attachments"])
        once = len(rows) == count and all(cards[attachment_id(r.key)] == 1 for r in rows) \
            and sum(cards.values()) == count + 1  # and the kickoff
        last = max(posts_on(entries, channel))
        return {"throttled": throttled(entries, started, "update"),
                "once": once, "posted": posted, "total": last - started,
                "allowed": allowed(count, TEAMS_PER_CHANNEL),
                "retried": sum(1 for r in rows if r.attempts > 1)}

    # ---- 2. a flood of alerts --------------------------------------------------------------

    def flood(self, count: int) -> dict:
        from sqlalchemy import select

        from app.alerts import service as alerts
        from app.auth.models import User
        from app.db import Session

        with self.app.app_context():
            ada = Session.scalar(select(User).where(User.email == "ada@example.com"))
            source, secret = alerts.create_source(Session, ada, name="Probes",
                                                  kind="generic", severity=None)
            source_id = source.id
            Session.remove()
        intake = self.app.test_client()
        mark = self.clock.mark()
        started = time.perf_counter()
        references = []
        for n in range(count):
            answer = intake.post(f"/alerts/{source_id}", json={
                "title": f"Probe {n} failing: https://shop{n}.example.org",
                "severity": "critical", "fingerprint": f"probe-{n}"},
                headers={"Authorization": f"Bearer {secret}"})
            if answer.status_code != 202:
                raise RuntimeError(f"alert intake answered {answer.status_code}")
            references += [i["reference"] for i in answer.get_json()["incidents"]]
        arrived = time.perf_counter() - started
        self.clock.wait_for(lambda found: len(posts_on(found, SANDBOX_BROADCAST)) >= count
                            and len(posts_on(found, exclude=SANDBOX_BROADCAST)) >= count,
                            mark, timeout=600)
        rows = [row for ref in references for row in self.wait_delivered(f"{ref}/")]
        reports = self.reports_done(references)
        self.wait_for_jobs()
        entries = self.clock.since(mark)
        return {"throttled": throttled(entries, started, "update"),
                "once": self.flood_once(references, rows) and reports == count,
                "arrived": arrived,
                "total": max(s for s, e in entries if e["method"] != "GET"
                             and 200 <= e["status"] < 300) - started,
                "allowed": max(allowed(count, TEAMS_PER_CHANNEL),
                               allowed(count, TEAMS_PER_TEAM),  # the channels themselves
                               allowed(2 * count, TEAMS_PER_TENANT), arrived),
                "retried": sum(1 for r in rows if r.attempts > 1), "rows": len(rows),
                "last": last_of_each(entries, started),
                "first_made": first_made(entries, started)}

    def flood_once(self, references: list[str], rows: list) -> bool:
        from app.m365.handlers import attachment_id

        state = self.sandbox.state
        cards = Counter(a["id"] for m in state.messages() for a in m["attachments"])
        channels = Counter((c.get("description") or "").split(":", 1)[0]
                           for c in state.channels())
        meetings = Counter(m["subject"].split(" ", 1)[0] for m in state.meetings())
        posts = [r for r in rows if r.key.endswith(("/kickoff", "/broadcast"))]
        return (len(posts) == 2 * len(references)
                and all(cards[attachment_id(r.key)] == 1 for r in posts)
                and all(channels[ref] == 1 and meetings[ref] == 1 for ref in references)
                and len(state.messages(channel_id=SANDBOX_BROADCAST)) == len(references))


def show(title: str, result: dict) -> None:
    ratio = result["total"] / result["allowed"]
    print(f"  {title}")
    found = result["throttled"]
    print(f"    429s provoked: {len(found)}  (target 0: {'met' if not found else 'MISSED'})"
          + (f": {', '.join(found)}" if found else ""))
    print(f"    delivered exactly once: {'yes' if result['once'] else 'NO'}; "
          f"deliveries retried: {result['retried']}")
    print(f"    total {result['total']:.2f} s / the limits allow {result['allowed']:.2f} s "
          f"= {ratio:.2f}  (target <= {TARGET_RATIO}: "
          f"{'met' if ratio <= TARGET_RATIO else 'MISSED'})")
    if "first_made" in result:
        made = result["first_made"]
        print(f"    every piece first made by {made:.2f} s = {made / result['allowed']:.2f} "
              "(later: reports rewritten after their debounce)")
    if "last" in result:
        print("    the last of each was made at: " + ", ".join(
            f"{kind} {at:.2f} s" for kind, at in sorted(result["last"].items(),
                                                        key=lambda item: item[1])))


def run(title: str, redis_url: str | None, updates: int, alerts: int) -> None:
    print(f"\n== {title} ==")
    workdir = Workdir("bench-pacing-")
    bench = Bench(workdir, redis_url)
    try:
        burst = bench.burst(updates)
        show(f"burst: {updates} updates to one incident channel "
             f"(posted in {burst['posted']:.2f} s)", burst)
        bench.settle()
        flood = bench.flood(alerts)
        show(f"flood: {alerts} incidents opened by alerts (arrived in "
             f"{flood['arrived']:.2f} s; {flood['rows']} deliveries)", flood)
    finally:
        bench.close()
        workdir.close()


def main() -> None:
    updates = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    alerts = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    database = "PostgreSQL" if os.environ.get("BENCH_DATABASE_URL", "").startswith(
        "postgresql") else "SQLite"
    print(f"{os.cpu_count()} CPUs; {database}; sandbox limits: {TEAMS_PER_CHANNEL} posts/s "
          f"per channel, {TEAMS_PER_TENANT}/s per tenant (Microsoft's documented)")
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        workers = os.environ.get("BENCH_RQ_WORKERS", "4")
        kind = os.environ.setdefault("BENCH_RQ_WORKER_CLASS", "rq.worker.SimpleWorker")
        run(f"RQ, {workers} `rq worker --worker-class {kind}` processes", redis_url,
            updates, alerts)
    else:
        run("in-process jobs (4 threads)", None, updates, alerts)


if __name__ == "__main__":
    main()
