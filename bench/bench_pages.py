"""Incident list (10,000 incidents) and incident page (500 timeline entries: the newest
100 by default, and the whole timeline) under load.

Starts the real app under gunicorn, and beside it a minimal Flask page on the same
server settings, then drives each with the same keep-alive load generator for a few
seconds. Prints requests/s for each page, the ratio to the minimal page, and the SQL
statements each page runs. Run: `.venv/bin/python bench/bench_pages.py [seconds]`.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MINIMAL_APP = '''
from flask import Flask
app = Flask(__name__)

@app.get("/")
def hello():
    return "<!doctype html><title>hello</title><p>hello</p>"
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(database_url: str) -> tuple[str, str]:
    """10,000 incidents and one with 500 timeline entries; returns (reference, user email)."""
    os.environ["DATABASE_URL"] = database_url
    from app import create_app
    from app.auth.models import User
    from app.cli import upgrade
    from app.config import Settings
    from app.db import Session
    from app.incidents import scribe, service

    upgrade(database_url)
    app = create_app(Settings(database_url=database_url, redis_url=None,
                              background_sweep=False, graph_base_url="http://127.0.0.1:9/v1.0",
                              graph_start_check=False, dev_sign_in=True))
    org = app.extensions["org"]
    with app.app_context():
        user = User(entra_oid="dev-bench", name="Bench", email="bench@example.com")
        Session.add(user)
        Session.commit()
        for number in range(10_000):
            service.declare(Session, org, user, title=f"Incident {number}", description="",
                            severity=("P1", "P2", "P3")[number % 3],
                            new_services=[f"Service {number % 20}"])
        busy = service.declare(Session, org, user, title="Busy incident", description="",
                               severity="P1")
        for number in range(499):
            scribe.add_entry(Session, user, busy, text=f"Timeline entry {number}",
                             entry_type="event", effects=app.extensions["effects"])
        return busy.reference, user.email


def start_gunicorn(app_spec: str, port: int, env: dict, cwd: Path) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
        [str(ROOT / ".venv/bin/gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--worker-class", "gthread", "--threads", "4", "--log-level", "warning", app_spec],
        cwd=cwd, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{app_spec} did not start")


def sign_in(port: int, email: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/sign-in")
    response = conn.getresponse()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.read().decode())[1]
    body = f"csrf_token={token}&name=Bench&email={email}"
    conn.request("POST", "/sign-in/dev", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    return response.getheader("Set-Cookie").split(";")[0]


def load(port: int, path: str, seconds: float, cookie: str = "", clients: int = 8) -> float:
    """Requests per second with `clients` keep-alive connections."""
    counts = [0] * clients
    stop = time.time() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.time() < stop:
            conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, (path, response.status)
            counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.time() - started)


def statements(database_url: str, reference: str) -> dict[str, int]:
    from sqlalchemy import event

    from app import create_app
    from app.config import Settings

    app = create_app(Settings(database_url=database_url, redis_url=None,
                              background_sweep=False, graph_base_url="http://127.0.0.1:9/v1.0",
                              graph_start_check=False, dev_sign_in=True),
                     TESTING=True)
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    client.post("/sign-in/dev", data={"csrf_token": token, "name": "Bench",
                                      "email": "bench@example.com"})
    seen: list[str] = []
    engine = app.extensions["db_engine"]
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    result = {}
    for name, url in (("list", "/incidents?state=all"), ("incident", f"/incidents/{reference}"),
                      ("whole", f"/incidents/{reference}?timeline=all")):
        seen.clear()
        event.listen(engine, "before_cursor_execute", listener)
        assert client.get(url).status_code == 200
        event.remove(engine, "before_cursor_execute", listener)
        result[name] = len([s for s in seen if not s.upper().startswith("BEGIN")])
    return result


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    workdir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    print(f"database: {database_url.split('@')[-1]}")
    started = time.time()
    reference, email = seed(database_url)
    print(f"seeded 10,001 incidents and a 500-entry timeline in {time.time() - started:.0f} s")
    (workdir / "minimal.py").write_text(MINIMAL_APP)
    env = {**os.environ, "DATABASE_URL": database_url, "BACKGROUND_SWEEP": "false",
           "GRAPH_BASE_URL": "http://127.0.0.1:9/v1.0", "GRAPH_START_CHECK": "false",
           "SECRET_KEY": "bench-secret",
           "INCIDENT_DESK_INSTANCE": str(workdir), "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    app_port, minimal_port = free_port(), free_port()
    app_server = start_gunicorn("wsgi:app", app_port, env, ROOT)
    minimal_server = start_gunicorn("minimal:app", minimal_port, env, workdir)
    try:
        cookie = sign_in(app_port, email)
        baseline = load(minimal_port, "/", seconds)
        listing = load(app_port, "/incidents?state=all", seconds, cookie)
        incident = load(app_port, f"/incidents/{reference}", seconds, cookie)
        whole = load(app_port, f"/incidents/{reference}?timeline=all", seconds, cookie)
    finally:
        app_server.terminate()
        minimal_server.terminate()
    counts = statements(database_url, reference)
    print(f"minimal Flask page          {baseline:8.0f} req/s")
    print(f"incident list (10,000)      {listing:8.0f} req/s  ratio {listing / baseline:.3f}"
          f"  SQL statements {counts['list']}")
    print(f"incident page (500 entries) {incident:8.0f} req/s  ratio {incident / baseline:.3f}"
          f"  SQL statements {counts['incident']}  (the newest 100 shown)")
    print(f"  the same, whole timeline  {whole:8.0f} req/s  ratio {whole / baseline:.3f}"
          f"  SQL statements {counts['whole']}  (?timeline=all)")


if __name__ == "__main__":
    main()
