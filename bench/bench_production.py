"""Declare-to-notified with the README's production set-up exactly as written
(readme_setup: its gunicorn, its RQ worker command, its scheduler, on PostgreSQL and
Redis), against a standalone sandbox adding latency to every Graph call.

Times each P1 from the declare POST (over HTTP to gunicorn) until its channel, kickoff
card, broadcast, meeting and running Word report all exist in the sandbox, and divides by
the critical path (derived per run, as in bench_declare: calls per piece from the
sandbox's request log, what waited for what from the outbox). Requests are attributed
to this declaration only (its channel's id, its reference in the report's path), so a
reminder or a sweep in another incident cannot count as one of its calls. Also prints
the memory of each README process (RSS and PSS, with children).

Run: `BENCH_DATABASE_URL=postgresql+psycopg://... REDIS_URL=redis://... .venv/bin/python
bench/bench_production.py [latency_ms] [declarations]` (default 100 ms, 10).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_declare import WHAT, critical_path
from graph_bench import SANDBOX_BROADCAST, Workdir, median, ms
from readme_setup import Deployment

TARGET_RATIO = 1.3


@dataclass
class Run:
    reference: str
    post: float
    notified: float  # POST start until the last piece existed
    exists_at: dict[str, float]
    sent_at: dict[str, float]
    calls: Counter
    chain: int


class Attribution:
    """Which of one declaration's pieces a logged Graph request is, if any."""

    def __init__(self, deployment: Deployment, reference: str):
        self.state = deployment.sandbox.state
        self.reference = reference
        self.channel_id: str | None = None

    def piece(self, entry: dict) -> str:
        path = unquote(entry["path"].split("?", 1)[0])
        if "/onlineMeetings" in path:
            return "meeting"
        if path.startswith("/v1.0/drives/") and self.reference in path:
            return "report"
        if "/channels" in path and "/messages" in path:
            if f"/channels/{SANDBOX_BROADCAST}/" in path:
                return "broadcast"
            return "kickoff" if self.channel_id and f"/{self.channel_id}/" in path else "other"
        if path.endswith("/channels") and entry["method"] == "POST":
            self._find_channel()
            return "channel"
        return "other"

    def _find_channel(self) -> None:
        if self.channel_id is None:
            for channel in self.state.channels():
                if (channel.get("description") or "").startswith(f"{self.reference}:"):
                    self.channel_id = channel["id"]

    def created(self, entries: list[tuple[float, dict]]) -> dict[str, tuple[float, dict]]:
        """piece -> (stamp, entry) of the request that first created it."""
        found: dict[str, tuple[float, dict]] = {}
        for stamp, entry in entries:
            what = self.piece(entry)
            if what in WHAT and what not in found and entry["method"] != "GET" \
                    and 200 <= entry["status"] < 300:
                found[what] = (stamp, entry)
        return found


def declare_and_wait(deployment: Deployment, latency: float, title: str) -> Run:
    deployment.sandbox.configure(latency=latency)
    mark = deployment.clock.mark()
    reference, started, post = deployment.declare(title)
    who = Attribution(deployment, reference)
    entries = deployment.clock.wait_for(lambda e: set(who.created(e)) >= set(WHAT), mark,
                                        timeout=120)
    created = who.created(entries)
    last = max(stamp for stamp, _entry in created.values())
    calls = Counter(who.piece(e) for stamp, e in entries if stamp <= last)
    rows = deployment.wait_for_deliveries(reference, WHAT)
    deployment.settle()
    dependencies = {k: b for k, (_s, b) in rows.items() if k in WHAT and b}
    return Run(reference, post, last - started,
               {w: s - started for w, (s, _e) in created.items()},
               {w: s - e["duration"] - started for w, (s, e) in created.items()},
               calls, critical_path(calls, dependencies))


def summarise(label: str, latency: float, runs: list[Run]) -> float | None:
    notified = median(r.notified for r in runs)
    chain = Counter(r.chain for r in runs).most_common(1)[0][0]
    critical = chain * latency
    ratio = notified / critical if critical else None
    spread = f"{ms(min(r.notified for r in runs))}-{ms(max(r.notified for r in runs))}"
    print(f"{label:>10} {len(runs):>4} {ms(median(r.post for r in runs)):>7} "
          f"{ms(notified):>9} {spread:>17} {chain:>5} "
          f"{(f'{ratio:.2f}' if ratio else '-'):>6}")
    return ratio


def main() -> None:
    latency = (float(sys.argv[1]) if len(sys.argv) > 1 else 100.0) / 1000
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; Graph latency "
          f"{ms(latency)} a call; PostgreSQL; Redis {redis_url}")
    workdir = Workdir("bench-production-")
    deployment = Deployment(workdir, redis_url)
    try:
        print(f"{deployment.workers} RQ workers, all ready {deployment.ready_after:.1f} s "
              "after the README's processes started")
        started = time.perf_counter()
        warm = [declare_and_wait(deployment, 0.0, f"Warm-up {n}") for n in range(3)]
        print(f"first declarations after start (0 ms Graph): "
              f"{', '.join(ms(r.notified) for r in warm)}")
        quick = [declare_and_wait(deployment, 0.0, f"Quick {n}") for n in range(3)]
        timed = [declare_and_wait(deployment, latency, f"Payments down {n}")
                 for n in range(count)]
        print(f"\n{'latency':>10} {'runs':>4} {'POST':>7} {'notified':>9} {'min-max':>17} "
              f"{'chain':>5} {'ratio':>6}")
        summarise(ms(0.0), 0.0, quick)
        ratio = summarise(ms(latency), latency, timed)
        run = sorted(timed, key=lambda r: r.notified)[len(timed) // 2]
        print(f"\nmedian run ({run.reference}): calls "
              f"{ {w: run.calls[w] for w in WHAT} }; other calls {run.calls['other']}")
        for what in sorted(run.exists_at, key=run.exists_at.get):
            print(f"    {what:<10} sent {ms(run.sent_at[what]):>7} -> exists "
                  f"{ms(run.exists_at[what]):>7}")
        verdict = "met" if ratio is not None and ratio <= TARGET_RATIO else "MISSED"
        print(f"declare-to-notified / critical path: {ratio:.2f} (target <= {TARGET_RATIO}: "
              f"{verdict}); load {os.getloadavg()[0]:.2f}")
        print("\nmemory after the runs (processes, RSS, PSS, with children):")
        for name, (processes, rss, pss) in deployment.memory().items():
            print(f"    {name:<16} {processes:>2}  {rss / 1024:7.0f} MiB  {pss / 1024:7.0f} MiB")
        print(f"({time.perf_counter() - started:.0f} s)")
    finally:
        deployment.close()
        workdir.close()


if __name__ == "__main__":
    main()
