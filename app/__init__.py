"""Incident Desk: the Flask application factory."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, redirect, url_for
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader

from app import db
from app.config import Settings
from app.core import org as org_settings
from app.core.timefmt import register_filters
from app.extensions import csrf, login_manager
from app.incidents.rules import STATUS_BY_KEY

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="incident_desk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # A form left open through a long incident must still submit: the token lives
        # as long as the session, not the default hour.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.config.update(overrides)
    app.extensions["settings"] = settings
    app.extensions["org"] = org_settings.load(settings.severity_scale, settings.org_config_path)
    app.logger.setLevel(logging.INFO)

    app.jinja_loader = ChoiceLoader([
        FileSystemLoader(str(TEMPLATES)),
        PrefixLoader({
            "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
            "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
        }),
    ])
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    register_filters(app, settings.timezone)

    engine = db.make_engine(settings.database_url)
    app.extensions["db_engine"] = engine
    db.bind(engine)

    @app.teardown_appcontext
    def _remove_session(_exc=None):
        db.Session.remove()

    csrf.init_app(app)
    login_manager.init_app(app)

    from app import errors, security
    from app.api.routes import bp as api_bp
    from app.auth.routes import bp as auth_bp
    from app.incidents.routes import bp as incidents_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(incidents_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    errors.register(app)
    security.register(app)

    from app.cli import register as register_cli

    register_cli(app)

    @app.before_request
    def _nonce():
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.context_processor
    def _globals():
        return {
            "org": app.extensions["org"],
            "settings": settings,
            "cspNonce": g.get("csp_nonce"),
            "statuses": STATUS_BY_KEY,
        }

    @app.get("/")
    def index():
        return redirect(url_for("incidents.list_incidents"))

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
