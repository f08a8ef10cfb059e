"""Incident Desk: the Flask application factory."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from flask import Flask, g, redirect, url_for
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader

from app import db
from app.auth import sign_ins
from app.cli import one_off_command
from app.config import Settings
from app.core import org as org_settings
from app.core.log_lines import clean_every_log_record
from app.core.timefmt import register_filters
from app.extensions import csrf, login_manager
from app.incidents.rules import STATUS_BY_KEY
from app.m365.graph_setup import BUILT_IN, STANDALONE
from app.web.json_bounds import BoundedJSONProvider
from app.web.m365.panel import label as delivery_label

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    app.json = BoundedJSONProvider(app)  # every JSON body's nesting is bounded
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="incident_desk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookies_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.cookies_secure,
        # Also each sign-in's absolute lifetime, checked on the server (app/auth/sign_ins).
        PERMANENT_SESSION_LIFETIME=sign_ins.LIFETIME,
        # A form left open through a long incident must still submit: the token lives
        # as long as the session, not the default hour.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.config.update(overrides)
    app.extensions["settings"] = settings
    app.extensions["org"] = org_settings.load(settings.severity_scale, settings.org_config_path)
    app.logger.setLevel(logging.INFO)
    clean_every_log_record()  # nothing logged can forge a line or show a secret

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
    _init_m365(app, settings)

    from app import errors, http_headers
    from app.core import reads
    from app.web.actions.routes import bp as actions_bp
    from app.web.alerts.routes import bp as alerts_bp
    from app.web.api.routes import bp as api_bp
    from app.web.auth.routes import bp as auth_bp
    from app.web.catalogue.routes import bp as catalogue_bp
    from app.web.contacts.routes import bp as contacts_bp
    from app.web.documents.routes import bp as documents_bp
    from app.web.incidents.routes import bp as incidents_bp
    from app.web.m365.routes import bp as m365_bp
    from app.web.m365.setup_routes import bp as setup_check_bp
    from app.web.people.routes import bp as people_bp
    from app.web.reminders.routes import bp as reminders_bp
    from app.web.reporting.routes import bp as reporting_bp
    from app.web.review_meetings.routes import bp as review_meetings_bp
    from app.web.status.routes import bp as status_bp
    from app.web.tab.routes import bp as tab_bp
    from app.web.teams_app.routes import bp as teams_app_bp
    from app.web.updates.routes import bp as updates_bp
    from app.web.uptime.routes import bp as uptime_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(incidents_bp)
    app.register_blueprint(m365_bp)
    app.register_blueprint(setup_check_bp)
    app.register_blueprint(contacts_bp)
    app.register_blueprint(updates_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(people_bp)
    app.register_blueprint(alerts_bp)
    app.register_blueprint(reminders_bp)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(actions_bp)
    app.register_blueprint(status_bp)
    app.register_blueprint(teams_app_bp)
    app.register_blueprint(tab_bp)  # the incident as a Teams tab
    app.register_blueprint(review_meetings_bp)
    app.register_blueprint(reporting_bp)
    app.register_blueprint(uptime_bp)  # uptime checks of catalogue services
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    from app.bot.routes import bp as bot_bp

    app.register_blueprint(bot_bp)  # the Teams bot's /api/messages
    errors.register(app)
    http_headers.register(app)
    reads.register(app)

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
            "delivery_label": delivery_label,
            # /sandbox shows something: the built-in sandbox, or a standalone one
            "sandbox_page": app.extensions["graph_setup"].kind in (BUILT_IN, STANDALONE),
        }

    @app.get("/")
    def index():
        return redirect(url_for("incidents.list_incidents"))

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def _pacer(jobs):
    """Deliveries pace themselves within Graph's limits, shared by every worker on RQ."""
    from app.m365.limits import need_of
    from app.outbox.pacers import make_pacer

    return make_pacer(jobs, need_of)


def _init_m365(app: Flask, settings: Settings) -> None:
    """Jobs, where Microsoft 365 work goes, and how it gets there."""
    from app.core import installation
    from app.core.job_queue import make_jobs
    from app.m365.connect import make_graph_for, make_graph_for_app, make_teams_webhook
    from app.m365.effects import M365Effects
    from app.outbox.service import queue_after_commit

    app.extensions["jobs"] = make_jobs(app, settings.redis_url)
    queue_after_commit()  # deliveries go to the job queue once their transaction commits
    app.extensions["pacer"] = _pacer(app.extensions["jobs"])
    from app.m365.graph_setup import resolve

    setup = app.extensions["graph_setup"] = resolve(settings)  # refuses missing ids
    app.extensions["installation"] = installation.from_settings(settings, **setup.defaults)
    app.extensions["effects"] = M365Effects(app.extensions)
    app.extensions["graph_for"] = make_graph_for(app)
    app.extensions["graph_for_app"] = make_graph_for_app(app)
    app.extensions["teams_webhook"] = make_teams_webhook(app)
    if settings.background_sweep and not one_off_command():
        app.extensions["jobs"].every(60, "app.jobs.sweep_outbox", first_in=1.0)
        app.extensions["jobs"].every(60, "app.jobs.send_reminders", first_in=30.0)
        app.extensions["jobs"].every(15 * 60, "app.jobs.sync_contacts", first_in=5.0)
        app.extensions["jobs"].every(60, "app.jobs.archive_channels", first_in=45.0)
        app.extensions["jobs"].every(15, "app.jobs.sweep_uptime_checks", first_in=10.0)
