"""One-off `flask` commands on a database with no tables yet: db-upgrade prints only what it
did, no command starts the background sweep, and a sweep that does meet an empty database
says so in one line."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from app import create_app
from app.jobs import sweep_outbox
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
NO_TABLES = "the database has no tables yet"


def laptop_env(tmp_path: Path) -> dict:
    """A newcomer's laptop: in-process jobs with the background sweep on, the built-in
    sandbox, and a database file that does not exist yet."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS_", "ENTRA_", "M365_", "GRAPH_", "BACKGROUND_", "FLASK_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'new.db'}",
               SECRET_KEY="test-secret-key-not-for-production",
               INCIDENT_DESK_INSTANCE=str(tmp_path / "instance"), PYTHONPATH=str(ROOT))
    return env


def flask(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and app
        [*FLASK, *args], cwd=ROOT, env=laptop_env(tmp_path), input=stdin, text=True,
        capture_output=True, timeout=120)


def test_db_upgrade_on_a_new_database_prints_only_what_it_did(tmp_path):
    done = flask(tmp_path, "db-upgrade")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert output == "database is up to date\n"
    again = flask(tmp_path, "db-upgrade")
    assert (again.returncode, again.stdout + again.stderr) == (0, "database is up to date\n")


def test_a_one_off_command_starts_no_background_work(tmp_path):
    """A command that outlasts the sweep's first second (here a shell that waits) on a
    database db-upgrade has not made yet: no sweep runs, so nothing fails."""
    done = flask(tmp_path, "shell", stdin="import time\ntime.sleep(2.5)\n")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output and "sweep" not in output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_flask_run_still_starts_the_sweep(tmp_path):
    """`flask run` serves, so its sweep starts as the app is built; on a database without
    tables the sweep says so in one line, with no traceback."""
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and app
        [*FLASK, "run", "--port", str(free_port()), "--no-reload"], cwd=ROOT,
        env=laptop_env(tmp_path), text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    lines: list[str] = []

    def read() -> None:
        for line in server.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while (time.monotonic() < deadline and server.poll() is None
               and not any(NO_TABLES in line for line in lines)):
            time.sleep(0.1)
        time.sleep(0.5)  # whatever the sweep printed after its line
    finally:
        server.terminate()
        server.wait(timeout=30)
        reader.join(30)
    said = [line for line in lines if NO_TABLES in line]
    assert len(said) == 1, "".join(lines)
    assert "db-upgrade" in said[0]
    assert not any("Traceback" in line for line in lines), "".join(lines)


def test_a_sweep_on_a_database_without_tables_logs_one_line(tmp_path, caplog):
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'empty.db'}"))
    try:
        with caplog.at_level(logging.INFO), app.app_context():
            assert sweep_outbox() == 0
    finally:
        app.extensions["jobs"].shutdown()
        app.extensions["db_engine"].dispose()
    said = [r for r in caplog.records if r.name == "app.jobs"]
    assert [(r.levelname, r.exc_info) for r in said] == [("WARNING", None)]
    assert NO_TABLES in said[0].getMessage()
