"""The systemd units in deploy/systemd/ run exactly the README's "Run it:" commands (so the
two cannot drift), restart whatever exits however often, read one environment file, and
pass `systemd-analyze verify` where systemd is installed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CI
from tests.test_resilience import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from readme_setup import RUN
from readme_setup import readme_commands as parse_readme

UNITS = ROOT / "deploy" / "systemd"
HOME = "/opt/incident-desk"  # where the units expect the checkout and its .venv
ENV_FILE = "/etc/incident-desk/env"
LONG_RUNNING = ("incident-desk-web", "incident-desk-worker", "incident-desk-cron")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def units() -> dict[str, dict]:
    return {p.stem: parse_unit(p) for p in sorted(UNITS.glob("*.service"))}


def normalised(command: str) -> list[str]:
    """A command line as words, the program by name and "$X", ${X} and $X alike."""
    words = [re.sub(r"^\$\{(\w+)\}$", r"$\1", w) for w in shlex.split(command)]
    return [Path(words[0]).name, *words[1:]]


def readme_commands() -> list[str]:
    """What the README's block runs (not pip and npm, which install)."""
    return [c for c in parse_readme((ROOT / "README.md").read_text()) if c.split()[0] in RUN]


def test_each_readme_command_has_a_unit_running_it_as_written():
    from_readme = sorted(normalised(c) for c in readme_commands())
    from_units = sorted(normalised(u["Service"]["ExecStart"][0]) for u in units().values())
    assert from_units == from_readme
    for name, unit in units().items():
        [exec_start] = unit["Service"]["ExecStart"]
        assert exec_start.startswith(f"{HOME}/.venv/bin/"), (name, exec_start)
        assert unit["Service"]["WorkingDirectory"] == [HOME], name
        assert unit["Service"]["EnvironmentFile"] == [ENV_FILE], name


def test_everything_long_running_is_restarted_after_any_exit_without_giving_up():
    found = units()
    assert set(LONG_RUNNING) <= set(found)
    for name in LONG_RUNNING:
        unit = found[name]
        assert unit["Service"]["Restart"] == ["always"], name
        assert 0 < float(unit["Service"]["RestartSec"][0]) <= 5, name
        assert unit["Unit"]["StartLimitIntervalSec"] == ["0"], name  # never stop retrying
        assert "incident-desk-migrate.service" in " ".join(unit["Unit"]["After"]), name
        assert unit["Unit"]["PartOf"] == ["incident-desk.target"], name
    migrate = found["incident-desk-migrate"]
    assert migrate["Service"]["Type"] == ["oneshot"]
    assert migrate["Service"]["Restart"] == ["on-failure"]  # a database still starting
    assert migrate["Unit"]["StartLimitIntervalSec"] == ["0"]
    target = parse_unit(UNITS / "incident-desk.target")
    wanted = " ".join(target["Unit"]["Wants"]).split()
    assert {f"{name}.service" for name in found} <= set(wanted)
    # The README's "exactly one" scheduler is the cron unit.
    [scheduler] = [c for c in readme_commands() if c.startswith("python -m app.cron")]
    assert normalised(found["incident-desk-cron"]["Service"]["ExecStart"][0]) == \
        normalised(scheduler)


def test_the_environment_file_example_sets_what_every_process_needs():
    names = {line.split("=", 1)[0] for line in (UNITS / "env.example").read_text().splitlines()
             if line and not line.startswith("#")}
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= names
    readme = (ROOT / "README.md").read_text()
    assert "deploy/systemd/env.example" in readme and ENV_FILE in readme


@pytest.mark.slow
def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze is not installed"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    # Pointed at this checkout, so that verify finds every ExecStart program.
    for path in [*UNITS.glob("*.service"), *UNITS.glob("*.target")]:
        (tmp_path / path.name).write_text(path.read_text().replace(HOME, str(ROOT)))
    result = subprocess.run(  # noqa: S603 - systemd-analyze from PATH, our own files
        [analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
