"""A stalled Graph call with the README's production set-up exactly as written
(readme_setup): does everything else wait behind it?

P1 "A" is declared with its Word report's upload set to hang (the sandbox's "timeout"
fault: no answer for `stall` seconds, then the connection drops, nothing applied); one
second later P1 "B" is declared. Prints when each of A's and B's pieces existed, B's
declare-to-notified against an unstalled declaration's and against the critical path,
and when A's report existed after its retry (which the worker's scheduler queues). The
report is the piece stalled because its path names the incident: with two declarations
in flight, each request is still attributed to the right one (B's requests are those
after its POST; A's other pieces are all made by then).

Run: `BENCH_DATABASE_URL=postgresql+psycopg://... REDIS_URL=redis://... .venv/bin/python
bench/bench_stall.py [stall_s] [latency_ms]` (default 10 s, 100 ms).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_declare import WHAT
from bench_production import Attribution, declare_and_wait
from graph_bench import Workdir, ms
from readme_setup import Deployment

GAP = 1.0  # seconds between A's POST and B's


def main() -> None:
    stall = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    latency = (float(sys.argv[2]) if len(sys.argv) > 2 else 100.0) / 1000
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; Graph latency "
          f"{ms(latency)} a call; one call stalls {stall:.0f} s")
    workdir = Workdir("bench-stall-")
    deployment = Deployment(workdir, redis_url)
    try:
        for n in range(3):
            declare_and_wait(deployment, 0.0, f"Warm-up {n}")
        calm = declare_and_wait(deployment, latency, "Unstalled")
        deployment.sandbox.configure(latency=latency, hang=stall,
                                     fail_next={"kind": "timeout",
                                                "path_contains": "/drives/"})
        mark_a = deployment.clock.mark()
        a, a_started, _post = deployment.declare("Stalled report")
        time.sleep(GAP)
        mark_b = deployment.clock.mark()
        b, b_started, _post = deployment.declare("Declared during the stall")
        who = {a: Attribution(deployment, a), b: Attribution(deployment, b)}
        skip = mark_b - mark_a  # B's requests: those logged after its POST began
        entries = deployment.clock.wait_for(
            lambda e: set(who[a].created(e)) >= set(WHAT)
            and set(who[b].created(e[skip:])) >= set(WHAT), mark_a, timeout=stall + 120)
        since = {a: entries, b: entries[skip:]}
        [stalled] = [(stamp, e) for stamp, e in entries if e["fault"] == "timeout"]
        hung_from = stalled[0] - stalled[1]["duration"] - a_started
        hung_until = stalled[0] - a_started
        for reference in (a, b):
            deployment.wait_for_deliveries(reference, WHAT)
        print(f"\nA's report upload hung from {ms(hung_from)} to {ms(hung_until)} after A's "
              "POST started")
        rows = []
        for label, reference, started in (("A", a, a_started), ("B", b, b_started)):
            made = who[reference].created(since[reference])
            print(f"{label} ({reference}), after its own POST started:")
            for what in sorted(made, key=lambda w: made[w][0]):
                at = made[what][0] - started
                during = made[what][0] - a_started < hung_until
                note = "  (during the stall)" if during else ""
                print(f"    {what:<10} exists {ms(at):>9}{note}")
                rows.append((label, what, during))
        b_notified = max(s for s, _e in who[b].created(since[b]).values()) - b_started
        flowed = sum(1 for label, what, during in rows
                     if during and (label, what) != ("A", "report"))
        print(f"\nB declare-to-notified: {ms(b_notified)} ({b_notified / (2 * latency):.2f} x "
              f"the critical path), against {ms(calm.notified)} "
              f"({calm.notified / (2 * latency):.2f}) for the unstalled P1 before")
        print(f"pieces made while A's report upload hung: {flowed} of {len(rows) - 1}; "
              f"A's report existed {ms(who[a].created(entries)['report'][0] - a_started)} "
              f"after A's POST (retried after the drop); load {os.getloadavg()[0]:.2f}")
    finally:
        deployment.close()
        workdir.close()


if __name__ == "__main__":
    main()
