"""Command-line tasks: `flask db-upgrade` applies the Alembic migrations; `flask m365-check`
checks the Microsoft 365 set-up (exit code 0 when everything passes, 1 otherwise); `flask
teams-app` writes the Teams app package."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


def one_off_command() -> bool:
    """True while a `flask` command other than `flask run` builds the app (db-upgrade,
    m365-check, shell, routes). Such a command serves nothing, so it starts no background
    sweep or reminders: they need the schema that db-upgrade may be about to create."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.find_object(ScriptInfo) is None:
        return False  # gunicorn, an RQ worker, a test: not the flask command line
    return ctx.command.name != "run"


def register(app: Flask) -> None:
    @app.cli.command("db-upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision: str):
        """Create or migrate the database schema."""
        upgrade(current_app.extensions["settings"].database_url, revision)
        click.echo("database is up to date")

    @app.cli.command("m365-check")
    @click.option("--timeout", default=10.0, show_default=True,
                  help="Seconds each request to Microsoft may take.")
    @click.option("--budget", default=120.0, show_default=True,
                  help="Seconds the whole check may take; what is left is not checked.")
    def m365_check(timeout: float, budget: float):
        """Check the Microsoft 365 set-up with harmless requests; exit 1 unless all pass."""
        from app.m365.setup_check import run_check
        from app.m365.setup_check.text import as_text

        report = run_check(current_app, timeout=timeout, budget=budget)
        click.echo(as_text(report))
        raise SystemExit(0 if report.all_passed else 1)

    @app.cli.command("teams-app")
    @click.option("--out", "out", type=click.Path(dir_okay=False, writable=True),
                  help="Where to write the .zip (default: its own name, here).")
    def teams_app(out: str | None):
        """Write the Teams app package (manifest and icons) for administrators to upload."""
        from app.m365.graph_setup import BUILT_IN
        from app.teams_app.identity import NotReady, identity_from
        from app.teams_app.package import file_name, package_bytes

        try:
            identity = identity_from(current_app.extensions["settings"], built_in_sandbox=(
                current_app.extensions["graph_setup"].kind == BUILT_IN))
        except NotReady as problem:
            raise click.ClickException(str(problem)) from None
        path = Path(out or file_name(identity))
        path.write_bytes(package_bytes(identity))
        click.echo(f"wrote {path}")
