"""SharePoint contact sync of 10,000 list items: time against pages x latency, and the
sync's peak memory.

Seeds a SharePoint list of 10,000 contacts into a fresh sandbox state file, serves it
from a SandboxServer in its own process (`python -m graph.sandbox`, so the sandbox's
CPU and allocations are not charged to the sync, as a remote Graph's would not be),
injects latency into every Graph call, and runs the app's own job entry point
(`app.jobs.sync_contacts`: the real GraphClient, the SQLite database built by the
migrations). Pages are counted from the sandbox's request log.

Measured: a first sync into an empty table and a re-sync (every row exists) at the
given latency, a re-sync at 0 ms (what is not Graph's waiting), and, under tracemalloc
at 0 ms (tracemalloc slows Python, so never with the timings), the peak of a first sync
and of a re-sync, against holding the whole list in memory (the ListItems that a
read-everything-then-write sync would keep at least). tracemalloc sees Python's
allocations only, not SQLite's own cache.

Run: `.venv/bin/python bench/bench_contacts.py [items] [latency_ms]` (10000, 50).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_bench import ROOT, SANDBOX_SITE, Workdir, ms, settings_for

LIST_ID = "contacts-10k"
ROLES = ["Service owner", "Product manager", "Deputy director", "Programme delivery manager",
         "Engineer"]
SEVERITIES = [["P1"], ["P1", "P2"], [], ["P2", "P3"]]


def items(count: int):
    for n in range(count):
        yield {"Title": f"Person {n:05d}", "Email": f"person{n:05d}@example.org",
               "Service": f"Service {n % 40}" if n % 3 else "", "Role": ROLES[n % len(ROLES)],
               "Severities": SEVERITIES[n % len(SEVERITIES)]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RemoteSandbox:
    """`python -m graph.sandbox` on a state file, in a process of its own."""

    def __init__(self, db_path: Path, count: int):
        from graph.sandbox import SandboxState, seed_defaults

        started = time.perf_counter()
        state = SandboxState(db_path)
        seed_defaults(state)
        state.seed_list(SANDBOX_SITE, LIST_ID, items(count))
        state.close()
        self.seeded_in = time.perf_counter() - started
        self.db_path = db_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(  # noqa: S603 - our own sandbox, fixed arguments
            [str(ROOT / ".venv/bin/python"), "-m", "graph.sandbox", "--port", str(self.port),
             "--db", str(db_path)], cwd=ROOT, stdout=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.process.kill()
        raise RuntimeError("the sandbox did not start")

    def latency(self, seconds: float) -> None:
        request = urllib.request.Request(  # noqa: S310 - our own sandbox on localhost
            f"{self.url}/_sandbox/faults", data=json.dumps({"latency": seconds}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def list_requests(self) -> set[str]:
        """Ids of the logged requests that read the benchmark's list."""
        from graph.sandbox import SandboxState

        state = SandboxState(self.db_path)
        try:
            return {r["request_id"] for r in state.requests()
                    if f"/lists/{LIST_ID}/items" in r["path"]}
        finally:
            state.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    latency = (float(sys.argv[2]) if len(sys.argv) > 2 else 50.0) / 1000
    from sqlalchemy import delete, func, select

    from app import create_app
    from app.contacts.models import Contact, ContactSync
    from app.db import Session
    from app.jobs import sync_contacts

    workdir = Workdir("bench-contacts-")
    sandbox = RemoteSandbox(workdir.path / "graph-sandbox.db", count)
    print(f"seeded {count:,} list items in {sandbox.seeded_in:.1f} s; "
          f"Graph latency {ms(latency)} per call")
    settings = settings_for(workdir.database_url, f"{sandbox.url}/v1.0",
                            contacts_list_id=LIST_ID)
    app = create_app(settings)
    results = []

    def run(label: str, delay: float, traced: bool = False, empty_first: bool = False) -> None:
        if empty_first:
            Session.execute(delete(Contact))
            Session.commit()
        sandbox.latency(delay)
        before = sandbox.list_requests()
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        status = sync_contacts()
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if traced else None
        if traced:
            tracemalloc.stop()
        pages = len(sandbox.list_requests() - before)
        last = Session.scalar(select(ContactSync).order_by(ContactSync.id.desc()).limit(1))
        stored = Session.scalar(select(func.count()).select_from(Contact))
        Session.rollback()
        if status != "done" or last.items != count or stored != count:
            raise RuntimeError(f"{label}: {status}, {last.items} read, {stored} stored")
        results.append((label, delay, took, pages, peak))

    try:
        with app.app_context():
            graph = app.extensions["graph_for_app"]()
            # Warm-up, untimed: importing msgraph and the first connection.
            sum(1 for _ in graph.list_items(SANDBOX_SITE, "contacts"))
            run("first sync (empty table)", latency)
            run("re-sync (all rows exist)", latency)
            run("re-sync", 0.0)
            run("first sync", 0.0, empty_first=True)
            run("first sync, tracemalloc", 0.0, traced=True, empty_first=True)
            run("re-sync, tracemalloc", 0.0, traced=True)
            sandbox.latency(0.0)
            tracemalloc.start()
            whole = list(graph.list_items(SANDBOX_SITE, LIST_ID))
            held = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            del whole
            Session.remove()
    finally:
        app.extensions["jobs"].shutdown()
        app.extensions["db_engine"].dispose()
        sandbox.stop()
        workdir.close()

    print(f"\n{'sync':<26} {'latency':>7} {'time':>8} {'pages':>5} {'pages x latency':>15} "
          f"{'ratio':>6} {'peak memory':>11}")
    for label, delay, took, pages, peak in results:
        floor = pages * delay
        ratio = f"{took / floor:6.2f}" if floor else f"{'-':>6}"
        memory = f"{peak / 2**20:8.1f} MiB" if peak is not None else ""
        print(f"{label:<26} {ms(delay):>7} {ms(took):>8} {pages:>5} {ms(floor):>15} {ratio} "
              f"{memory:>11}")
    peaks = [peak for *_, peak in results if peak is not None]
    for (label, _d, took, pages, _p), (_l, _z, work, _n, _q) in ((results[0], results[3]),
                                                                 (results[1], results[2])):
        floor = pages * latency
        if not floor or not work:
            print(f"\n{label}: {took:.2f} s for {pages} pages (no latency: nothing to overlap)")
            continue
        print(f"\n{label}: {took:.2f} s for {pages} pages of {count // max(pages, 1):,}; "
              f"pages x latency {floor:.2f} s; ratio {took / floor:.2f}. Without latency it "
              f"takes {work:.2f} s. One after the other, waiting and working would take "
              f"{floor:.2f} + {work:.2f} = {floor + work:.2f} s; fully overlapped, "
              f"max({floor:.2f}, {work:.2f}) = {max(floor, work):.2f} s. Overlapped: "
              f"{(floor + work - took) / min(floor, work):.0%} of the shorter")
    print(f"peak memory of the sync {max(peaks) / 2**20:.1f} MiB; the whole list held as "
          f"ListItems {held / 2**20:.1f} MiB (ratio {max(peaks) / held:.2f})")


if __name__ == "__main__":
    main()
