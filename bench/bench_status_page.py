"""The public /status page in a spike, against the README's production set-up exactly as
written (bench/readme_setup.Deployment: its gunicorn with its worker count, RQ worker
pool and scheduler, on PostgreSQL and Redis).

Issue 18's check: /status serves at least 80 % of the requests per second the same
gunicorn serves for a static file, and 304s for unchanged content. A page with something
on it first: two public services, a P1 with two published updates (one of them public
words for the page), so the page is a real one (about 4 KB). Then the same load generator
(pure Python: `CLIENTS` processes of `THREADS` threads, each a connection of its own,
reconnecting when gunicorn's sync workers close it, as they do after every answer) for
`seconds` against each of these, in turn, `ROUNDS` times (so a neighbour's load on the
shared machine falls on all three alike), the rounds added up:
- a static file the same gunicorn serves (`/static/init.js`, which every page loads);
- /status, no validator: the whole page each time;
- /status with the page's ETag in If-None-Match, as a refreshing browser sends: 304s.
Prints requests per second, the ratios to the static file and the share of 304s.

Run: `BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_status
REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/bench_status_page.py [seconds]`
(default 10). The bench empties that database.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_bench import Workdir, csrf
from readme_setup import Deployment

TARGET = 0.8  # /status's rate ÷ the static file's
CLIENTS = 2  # processes (the GIL: one process of threads cannot keep four workers busy)
THREADS = 8  # connections per process
WARM_UP = 1.0  # seconds of each run not counted
ROUNDS = 3
STATIC = "/static/init.js"


def seed(deployment: Deployment) -> None:
    """A P1 on two public services with two published updates, through the pages."""
    from sqlalchemy import create_engine, text

    http, url = deployment.http, deployment.url
    token = csrf(http.get(f"{url}/incidents/new", timeout=10).text)
    response = http.post(f"{url}/incidents/new", allow_redirects=False, timeout=30, data={
        "csrf_token": token, "title": "payments-db-2 disk full", "severity": "P1",
        "description": "Benchmark incident", "new_services": "Card payments, Online banking"})
    if response.status_code != 302:
        raise RuntimeError(f"declare answered {response.status_code}")
    reference = response.headers["Location"].rsplit("/", 1)[-1]
    engine = create_engine(deployment.settings.database_url)
    with engine.begin() as conn:  # an administrator ticks "public" in the catalogue
        conn.execute(text("UPDATE services SET public = true"))
    engine.dispose()
    page = f"{url}/incidents/{reference}/updates/new"
    for phase, words in (("investigating", "Card payments are failing for some customers. "
                          "We are investigating."),
                         ("identified", "We have found the cause: a full disk on a "
                          "database server. We are moving the data now.")):
        token = csrf(http.get(page, timeout=10).text)
        response = http.post(page, allow_redirects=False, timeout=30, data={
            "csrf_token": token, "phase": phase, "message": words, "to_channel": "",
            "publish": "y", "public_title": "Card payments failing"})
        if response.status_code != 302:
            raise RuntimeError(f"update answered {response.status_code}")


def _client(port: int, path: str, headers: dict, until: float, counted_from: float,
            results) -> None:
    """One process of THREADS connections; puts ({status: count}, bytes) counted after
    the warm-up."""
    statuses: dict[int, int] = {}
    size = [0]
    lock = threading.Lock()

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: dict[int, int] = {}
        read = 0
        while (now := time.time()) < until:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.will_close:
                conn.close()  # the next request opens a new connection
            if now >= counted_from:
                mine[response.status] = mine.get(response.status, 0) + 1
                read += len(body)
        with lock:
            for status, count in mine.items():
                statuses[status] = statuses.get(status, 0) + count
            size[0] += read

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((statuses, size[0]))


def load(port: int, path: str, seconds: float, headers=None) -> tuple[float, dict, int]:
    """(requests per second, {status: count}, body bytes) over `seconds` after the
    warm-up, with CLIENTS x THREADS connections."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.time() + 0.2
    counted_from, until = start + WARM_UP, start + WARM_UP + seconds
    processes = [context.Process(target=_client, args=(
        port, path, headers or {}, until, counted_from, results)) for _ in range(CLIENTS)]
    for process in processes:
        process.start()
    statuses: dict[int, int] = {}
    size = 0
    for _ in processes:
        got, read = results.get(timeout=seconds + 60)
        size += read
        for status, count in got.items():
            statuses[status] = statuses.get(status, 0) + count
    for process in processes:
        process.join()
    return sum(statuses.values()) / seconds, statuses, size


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    print(f"load average at the start: {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    workdir = Workdir("bench-status-")
    deployment = Deployment(workdir, redis_url)
    try:
        seed(deployment)
        deployment.settle()  # the update's deliveries done: the workers are idle
        anonymous = http.client.HTTPConnection("127.0.0.1", deployment.port, timeout=10)
        anonymous.request("GET", "/status")
        first = anonymous.getresponse()
        page = first.read()
        etag = first.getheader("ETag")
        if first.status != 200 or b"Card payments failing" not in page or not etag:
            raise RuntimeError(f"/status answered {first.status} without the incident")
        print(f"/status: {len(page):,} bytes, ETag {etag}, "
              f"Cache-Control {first.getheader('Cache-Control')!r}")
        runs = {"static": (STATIC, {}), "page": ("/status", {}),
                "conditional": ("/status", {"If-None-Match": etag})}
        totals = {name: [0.0, {}, 0] for name in runs}
        for round_ in range(ROUNDS):
            for name, (path, headers) in runs.items():
                rate, statuses, size = load(deployment.port, path, seconds, headers)
                print(f"  round {round_ + 1} {name:12} {rate:6.0f} req/s {statuses}")
                total = totals[name]
                total[0] += rate / ROUNDS
                total[2] += size
                for status, count in statuses.items():
                    total[1][status] = total[1].get(status, 0) + count
        static_rate, static_statuses, static_bytes = totals["static"]
        page_rate, page_statuses, _ = totals["page"]
        cond_rate, cond_statuses, _ = totals["conditional"]
    finally:
        deployment.close()
        workdir.close()
    static_size = static_bytes // max(1, static_statuses.get(200, 1))
    print(f"{CLIENTS} client processes x {THREADS} connections, {ROUNDS} rounds of "
          f"{seconds:.0f} s each after {WARM_UP:.0f} s of warm-up (mean of the rounds)")
    print(f"static file {STATIC} ({static_size} bytes)  {static_rate:8.0f} req/s  "
          f"{static_statuses}")
    print(f"/status, whole page               {page_rate:8.0f} req/s  {page_statuses}  "
          f"ratio {page_rate / static_rate:.2f}")
    share = cond_statuses.get(304, 0) / max(1, sum(cond_statuses.values()))
    print(f"/status, If-None-Match            {cond_rate:8.0f} req/s  {cond_statuses}  "
          f"ratio {cond_rate / static_rate:.2f}, 304s {share:.1%}")
    met = page_rate >= TARGET * static_rate and cond_rate >= TARGET * static_rate
    met = met and share == 1.0 and set(page_statuses) == {200}
    print(f"target (both ≥ {TARGET:.0%} of the static file, every conditional a 304): "
          f"{'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
