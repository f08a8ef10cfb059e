"""Declare-to-notified: how long after the declare POST everything a P1 causes in
Microsoft 365 exists (the incident channel, the kickoff card in it, the broadcast in the
announcements channel, the command-room meeting and the running Word report in
SharePoint), against the critical path of Graph calls; and the declare POST's own
latency when Graph takes 1 s a call against 0 s.

The app runs in this process behind the Flask test client, with a SandboxServer (the
real GraphClient over HTTP) injecting latency into every Graph call. Jobs run in the
app's 4 in-process threads, and also, when REDIS_URL is set, in `rq worker
--with-scheduler` processes (BENCH_RQ_WORKERS of them, default 4; BENCH_RQ_WORKER_CLASS,
e.g. rq.worker.SimpleWorker, to not fork a work horse per job). The RQ part runs fewer
declarations, as each job there costs seconds. The README's own production set-up, as
written, is bench_production.py's.

The critical path is derived, not assumed: the sandbox's request log says how many
calls each delivery made, the outbox says which delivery waited for which, and the
longest chain of calls that had to run one after another, times the latency, is what
the best possible implementation would take. The naive sequential baseline is every
call one after another. Times come from stamping each logged request when the sandbox
has applied it (see graph_bench.RequestClock), so nothing polls the sandbox.

Run: `.venv/bin/python bench/bench_declare.py [latency_ms]` (default 100).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_bench import (
    SANDBOX_BROADCAST,
    SandboxedApp,
    Workdir,
    declare,
    median,
    ms,
)

WHAT = ("channel", "kickoff", "broadcast", "meeting", "report")
TARGET_RATIO = 1.3
TARGET_POST_RATIO = 1.1


def classify(entry: dict) -> str:
    """Which piece of the declaration a logged Graph request belongs to."""
    path = unquote(entry["path"].split("?", 1)[0])
    if "/onlineMeetings" in path:
        return "meeting"
    if path.startswith("/v1.0/drives/") or "/upload" in path:
        return "report"
    if "/channels" in path:
        if "/messages" in path:
            return "broadcast" if f"/channels/{SANDBOX_BROADCAST}/" in path else "kickoff"
        return "channel"
    return "other"


def creates(entry: dict) -> bool:
    """A request that made something (not a look-up, not a failure)."""
    return entry["method"] != "GET" and 200 <= entry["status"] < 300


def everything_exists(entries: list[tuple[float, dict]]) -> bool:
    return {classify(e) for _, e in entries if creates(e)} >= set(WHAT)


@dataclass
class Run:
    latency: float
    reference: str
    post: float  # the declare POST's own seconds
    notified: float  # POST start until the last of WHAT existed
    exists_at: dict[str, float]  # seconds after the POST started
    sent_at: dict[str, float]  # when its creating call reached the sandbox
    calls: Counter
    chain: int  # calls on the critical path
    dependencies: dict[str, str] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls[w] for w in WHAT)


class Bench(SandboxedApp):
    """The app on a fresh sandbox, declaring incidents and timing what follows."""

    # ---- one declaration -----------------------------------------------------------------

    def declare_and_wait(self, latency: float) -> Run:
        self.sandbox.faults.configure(latency=latency)
        self.count += 1
        mark = self.clock.mark()
        reference, started, post = declare(self.client, f"Payments down {self.count}")
        self.clock.wait_for(everything_exists, mark, timeout=120)
        self.wait_for_jobs()
        entries = self.clock.since(mark)  # with anything logged after the last creation
        self.settle()
        exists_at, sent_at = {}, {}
        calls: Counter = Counter()
        for stamp, entry in entries:
            what = classify(entry)
            calls[what] += 1
            if creates(entry) and what in WHAT and what not in exists_at:
                exists_at[what] = stamp - started
                sent_at[what] = stamp - entry["duration"] - started
        self.check_sandbox(reference)
        dependencies = self.dependencies(reference)
        return Run(latency, reference, post, max(exists_at.values()), exists_at, sent_at,
                   calls, critical_path(calls, dependencies), dependencies)

    def dependencies(self, reference: str) -> dict[str, str]:
        """Which piece waited for which, from the outbox rows the declaration wrote."""
        from sqlalchemy import select

        from app.db import Session
        from app.outbox.models import Delivery

        with self.app.app_context():
            rows = Session.scalars(select(Delivery).where(
                Delivery.key.startswith(f"{reference}/"))).all()
            result = {row.key.split("/", 1)[1]: row.depends_on.key.split("/", 1)[1]
                      for row in rows if row.depends_on is not None}
            statuses = {row.key: row.status for row in rows}
            Session.remove()
        if set(statuses.values()) != {"delivered"}:
            raise RuntimeError(f"not every delivery was delivered: {statuses}")
        return result

    def check_sandbox(self, reference: str) -> None:
        """Everything is really there, read back from the sandbox."""
        from app.m365.handlers import attachment_id

        state = self.sandbox.state
        [channel] = [c for c in state.channels()
                     if (c.get("description") or "").startswith(f"{reference}:")]
        cards = {a["id"] for m in state.messages() for a in m.get("attachments", [])}
        missing = [what for what in ("kickoff", "broadcast")
                   if attachment_id(f"{reference}/{what}") not in cards]
        if not any(reference in (m.get("subject") or "") for m in state.meetings()):
            missing.append("meeting")
        if not any(reference in f["path"] and "Running incident report" in f["path"]
                   for f in state.files()):
            missing.append("report")
        if missing or not channel:
            raise RuntimeError(f"{reference}: not in the sandbox: {missing}")

    def post_latencies(self, latency: float, count: int, gap: float) -> list[float]:
        """The declare POST alone, `count` times `gap` seconds apart, with the earlier
        declarations' Graph work still in flight (as in real use)."""
        self.sandbox.faults.configure(latency=latency)
        times = []
        for _ in range(count):
            self.count += 1
            _ref, _started, post = declare(self.client, f"Search down {self.count}")
            times.append(post)
            time.sleep(gap)
        self.settle()
        return times


def middle(group: list[Run]) -> Run:
    """The run with the median declare-to-notified time."""
    return sorted(group, key=lambda r: r.notified)[len(group) // 2]


def critical_path(calls: Counter, dependencies: dict[str, str]) -> int:
    """The most calls any piece needs, counting the calls of what it waited for."""

    def chain(what: str) -> int:
        before = dependencies.get(what)
        return calls[what] + (chain(before) if before else 0)

    return max(chain(what) for what in WHAT)


def redis_reachable(url: str) -> bool:
    from redis import Redis

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:  # any failure means "no RQ run"
        return False


def report(title: str, bench: Bench, latency: float, counts: tuple[int, int, int],
           rounds: int) -> None:
    print(f"\n== {title} ==")
    started = time.perf_counter()
    warm = bench.declare_and_wait(0.0)  # first declaration: imports msgraph, python-docx...
    print(f"first declaration after start (imports, 0 ms latency): {ms(warm.notified)}")
    runs: dict[float, list[Run]] = {}
    for each, count in zip((0.0, latency, 5 * latency), counts, strict=True):
        runs[each] = [bench.declare_and_wait(each) for _ in range(count)]

    print(f"\n{'latency':>8} {'runs':>4} {'POST':>6} {'notified':>9} {'min-max':>15} "
          f"{'calls':>5} {'chain':>5} {'critical':>9} {'ratio':>6} {'sequential':>10} "
          f"{'ratio':>6}")
    for each, group in runs.items():
        run = middle(group)
        notified = median(r.notified for r in group)
        critical = run.chain * each
        naive = run.total_calls * each
        spread = f"{ms(min(r.notified for r in group))}-{ms(max(r.notified for r in group))}"
        ratio = f"{notified / critical:6.2f}" if critical else f"{'-':>6}"
        naive_ratio = f"{notified / naive:6.2f}" if naive else f"{'-':>6}"
        print(f"{ms(each):>8} {len(group):>4} {ms(median(r.post for r in group)):>6} "
              f"{ms(notified):>9} {spread:>15} {run.total_calls:>5} {run.chain:>5} "
              f"{ms(critical):>9} {ratio} {ms(naive):>10} {naive_ratio}")

    group = runs[latency]
    run = middle(group)
    print(f"\nmedian run at {ms(latency)} ({run.reference}): calls "
          f"{dict((w, run.calls[w]) for w in WHAT)}; waits {run.dependencies}")
    print("  after the POST started, its creating call reached Graph -> it existed:")
    for what in sorted(run.exists_at, key=run.exists_at.get):
        print(f"    {what:<10} {ms(run.sent_at[what]):>8} -> {ms(run.exists_at[what]):>8}")
    if run.calls["other"]:
        print(f"  other Graph calls: {run.calls['other']}")
    first_call = [r.sent_at["channel"] for r in group]
    print(f"  the channel's call (head of the critical path) left {ms(median(first_call))} "
          f"after the POST started (median; {ms(min(first_call))}-{ms(max(first_call))})")
    # The report writer and the channel job start together; which one takes the SQLite
    # write lock first decides whether the channel waits for the Word document's build.
    for label, part in (("before", [r for r in group if r.sent_at["channel"]
                                    < r.sent_at["report"]]),
                        ("after", [r for r in group if r.sent_at["channel"]
                                   >= r.sent_at["report"]])):
        if part:
            print(f"  channel call {label} the report's: {len(part):>2} runs, notified "
                  f"{ms(median(r.notified for r in part))} (median), ratio "
                  f"{median(r.notified for r in part) / (run.chain * latency):.2f}")
    notified = median(r.notified for r in group)
    ratio = notified / (run.chain * latency)
    naive = notified / (run.total_calls * latency)
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"declare-to-notified / critical path ({run.chain} calls x {ms(latency)}): "
          f"{ratio:.2f}  (target <= {TARGET_RATIO}: {verdict})")
    print(f"declare-to-notified / naive sequential ({run.total_calls} calls x {ms(latency)}): "
          f"{naive:.2f}")
    overhead = median(r.notified for r in runs[0.0])
    print(f"fixed cost (0 ms latency): {ms(overhead)}; at {ms(5 * latency)} the ratio is "
          f"{median(r.notified for r in runs[5 * latency]) / (run.chain * 5 * latency):.2f}")

    quick: list[float] = []
    slow: list[float] = []
    for _round in range(rounds):  # alternating blocks, so drift does not favour either
        quick += bench.post_latencies(0.0, 5, gap=0.5)
        slow += bench.post_latencies(1.0, 5, gap=0.5)
    post_ratio = median(slow) / median(quick)
    print(f"\ndeclare POST, median of {len(quick)}: {ms(median(quick))} at 0 ms Graph latency "
          f"(max {ms(max(quick))}), {ms(median(slow))} at 1 s (max {ms(max(slow))})")
    print(f"POST latency ratio 1 s / 0 ms: {post_ratio:.2f}  (target <= {TARGET_POST_RATIO}: "
          f"{'met' if post_ratio <= TARGET_POST_RATIO else 'MISSED'})")
    print(f"({title}: {time.perf_counter() - started:.0f} s)")


def main() -> None:
    latency = (float(sys.argv[1]) if len(sys.argv) > 1 else 100.0) / 1000
    database = "PostgreSQL" if os.environ.get("BENCH_DATABASE_URL", "").startswith(
        "postgresql") else "SQLite"
    print(f"{os.cpu_count()} CPUs; Graph latency {ms(latency)} per call; {database}")
    # (title, REDIS_URL, runs at 0 / latency / 5 x latency, rounds of 5+5 POSTs)
    modes = [("in-process jobs (4 threads)", None, (3, 15, 3), 8)]
    redis_url = os.environ.get("REDIS_URL")
    if redis_url and redis_reachable(redis_url):
        workers = os.environ.get("BENCH_RQ_WORKERS", "4")
        kind = os.environ.get("BENCH_RQ_WORKER_CLASS", "rq's default (a fork per job)")
        modes.append((f"RQ, {workers} `rq worker` processes, worker class {kind}", redis_url,
                      (1, 5, 1), 4))
    elif redis_url:
        print(f"REDIS_URL={redis_url} does not answer: RQ is not measured")
    for title, url, counts, rounds in modes:
        workdir = Workdir("bench-declare-")
        bench = Bench(workdir, url)
        try:
            report(title, bench, latency, counts, rounds)
        finally:
            bench.close()
            workdir.close()


if __name__ == "__main__":
    main()
