"""RQ entry points: ids in, one service call, exceptions propagate.

`rq worker-pool -w app.worker.WarmWorker incident-desk` (the README's) builds the Flask
app once per worker process, before its first job; `app.worker.PreloadedWorker` builds it
before forking a process per job. Never at import time.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, current_app, has_app_context

log = logging.getLogger(__name__)
_app: Flask | None = None
_pid: int | None = None


def _application() -> Flask:
    global _app, _pid
    if _app is None:
        from app import create_app

        _app, _pid = create_app(), os.getpid()
    elif _pid != os.getpid():
        # A work horse forked from a preloaded worker: keep the app, not the parent's
        # database connections (close=False leaves the parent's own ones alone).
        _app.extensions["db_engine"].dispose(close=False)
        _pid = os.getpid()
    return _app


def warm() -> Flask:
    """Build the app and load msgraph before the first job (app.worker), so that job
    does not pay seconds for them."""
    import graph.client  # noqa: F401  (msgraph and kiota: seconds to import)
    from app.bot import outbound

    app = _application()
    outbound.warm(app)  # the bot's token, fetched in the background
    return app


def preload() -> Flask:
    """Build the app and load msgraph in a worker before it forks (app.worker)."""
    app = warm()
    app.extensions["db_engine"].dispose()  # the parent keeps no connections to hand down
    return app


def _run(work):
    if has_app_context():  # in-process jobs already run inside the app
        return work(current_app)
    with _application().app_context():
        return work(current_app)


def deliver(delivery_id: int) -> str:
    """Deliver one outbox row to Microsoft 365."""
    from app.db import Session
    from app.outbox.runner import deliver as run_delivery

    def work(app):
        handlers, graph_for = _delivery_wiring(app)

        def run(one: int, next_here: list[int] | None) -> str:
            return run_delivery(Session, one, graph_for=graph_for,
                                handlers=handlers, pacer=app.extensions.get("pacer"),
                                next_here=next_here)

        try:
            return _and_what_it_released(run, delivery_id)
        finally:
            Session.remove()

    return _run(work)


def _delivery_wiring(app: Flask):
    """The handlers and the Graph each delivery gets, once per app: channel posts go
    through the Teams app's bot where it is installed (app/bot/outbound.py, given to
    PostToChannel here, the one place that knows both app.m365 and app.bot). Such a post
    needs nobody's token, so its delegated Graph is only made if it is used (a fallback,
    or a look-up after the app has left the team)."""
    wiring = app.extensions.get("delivery_wiring")
    if wiring is not None:
        return wiring
    from app.bot import card_updates
    from app.bot.outbound import ConnectorPoster
    from app.db import Session
    from app.m365 import activity_feed, plans, tab_pins
    from app.m365.handlers import HANDLERS, CreateChannel, PostToChannel

    poster = ConnectorPoster(app)
    handler = PostToChannel(bot=poster, app_graph=lambda: app.extensions["graph_for_app"]())
    # The incident's tab in the channels it makes, where the app is installed (the bot's
    # record of that) and a package can be built for this installation.
    pins = tab_pins.TabPins(installed=poster.can_post, tab_app=lambda: _tab_app(app),
                            sandbox_package=tab_pins.sandbox_package(app))

    def graph_for(delivery):
        if delivery.kind == activity_feed.KIND:  # the app's own token, read when sent
            return _Deferred(lambda: app.extensions["graph_for_app"]())
        base = app.extensions["graph_for"]  # looked up each time: tests may swap it
        if delivery.kind == card_updates.KIND or (
                delivery.kind == plans.POST and handler.bot_team(Session, delivery) is not None):
            return _Deferred(lambda: base(delivery))
        return base(delivery)

    wiring = app.extensions["delivery_wiring"] = (
        {**HANDLERS, plans.POST: handler, card_updates.KIND: card_updates.UpdatePostedCard(app),
         plans.CREATE_CHANNEL: CreateChannel(pins=pins), tab_pins.PIN_TAB: tab_pins.PinTab(pins),
         activity_feed.KIND: activity_feed.SendActivity()},
        graph_for)
    return wiring


def _tab_app(app: Flask):
    """The Teams app's manifest id and address (app/teams_app), None where no package can
    be built (no bot set up): then there is no app to pin."""
    from app.m365.graph_setup import BUILT_IN
    from app.m365.tab_pins import TabApp
    from app.teams_app.identity import NotReady, identity_from
    from app.teams_app.manifest import app_id

    try:
        identity = identity_from(app.extensions["settings"], built_in_sandbox=(
            app.extensions["graph_setup"].kind == BUILT_IN))
    except NotReady:
        return None
    return TabApp(external_id=app_id(identity), base_url=identity.base_url)


class _Deferred:
    """A Graph made on first use: the person's token is read only if it is needed."""

    def __init__(self, make):
        self._make, self._graph = make, None

    def ready(self) -> None:
        if self._graph is not None:
            self._graph.ready()

    def __getattr__(self, name: str):
        if self._graph is None:
            self._graph = self._make()
        return getattr(self._graph, name)


CHAIN = 3  # deliveries one job runs at most: each call has its deadline, the job its timeout


def _and_what_it_released(run, delivery_id: int) -> str:
    """Deliver, then one of the deliveries that released straight away in this job (a
    channel's kickoff card): a declaration's critical path skips a hop through the queue.
    What is left when the chain ends is queued, as the runner queues the rest."""
    from app.outbox.service import queue

    chain: list[int] = []
    outcome = run(delivery_id, chain)
    for _ in range(CHAIN - 1):
        if not chain:
            break
        run(chain.pop(0), chain)
    for left in chain:
        queue(left, urgent=True)
    return outcome


def sweep_outbox() -> int:
    """Queue deliveries (report writes among them) that are due or were abandoned by a
    dead worker or lost with Redis (every 15 s, app/cron.py)."""
    from sqlalchemy.exc import DBAPIError

    from app.db import Session
    from app.outbox.service import sweep

    def work(app):
        if not app.extensions["jobs"].recheck():
            return 0  # Redis is still away: everything due stays in the database
        try:
            return sweep(Session)
        except DBAPIError:
            Session.rollback()
            if not _no_schema_yet(app.extensions["db_engine"]):
                raise
            log.warning("outbox sweep skipped: the database has no tables yet "
                        "(flask --app wsgi db-upgrade creates them)")
            return 0
        finally:
            Session.remove()

    return _run(work)


def _no_schema_yet(engine) -> bool:
    """Whether the tables the sweep reads are absent (a database db-upgrade has not made
    yet): that is one line in the log, not a traceback. A database that is down, or
    any other failure, still raises."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    from app.outbox.models import Delivery

    try:
        return not inspect(engine).has_table(Delivery.__tablename__)
    except DBAPIError:
        return False


def sync_contacts() -> str:
    """Read the SharePoint contacts list into the database (every 15 minutes, and on
    demand from the contacts page)."""
    from app.contacts.mapping import parse_field_map
    from app.contacts.service import sync
    from app.db import Session

    def work(app):
        installation = app.extensions["installation"]
        if not (installation.contacts_site_id and installation.contacts_list_id):
            return "not configured"
        try:
            run = sync(Session, app.extensions["graph_for_app"](), installation.contacts_site_id,
                       installation.contacts_list_id,
                       parse_field_map(app.extensions["settings"].contacts_fields))
            return run.status
        finally:
            Session.remove()

    return _run(work)


def send_reminders() -> int:
    """Reminders that are due: updates, summaries, unfilled roles, escalation, hand-over,
    and overdue follow-up actions (every minute)."""
    from app.actions.service import chase_overdue
    from app.db import Session
    from app.reminders.service import policy_from, send_due

    def work(app):
        try:
            sent = send_due(Session, app.extensions["org"], app.extensions["effects"],
                            policy_from(app.extensions["settings"]))
            return sent + chase_overdue(Session, app.extensions["effects"])
        finally:
            Session.remove()

    return _run(work)


def archive_channels() -> int:
    """Plan archiving the Teams channels of incidents closed M365_ARCHIVE_CHANNELS_AFTER
    days ago (every minute, a batch at a time); returns how many were planned."""
    from app.db import Session
    from app.m365.lifecycle import archive_after, sweep

    def work(app):
        if not app.extensions["installation"].teams_enabled:
            return 0
        try:
            return sweep(Session, archive_after(app.extensions["settings"]))
        finally:
            Session.remove()

    return _run(work)


UPTIME_AT_ONCE = 8  # checks a sweep runs side by side (each bounded by its timeout)


def sweep_uptime_checks() -> int:
    """Run each uptime check that is due, side by side, in this process, and prune old
    results; returns how many ran. Called every 15 s by the scheduler's own thread
    (app/cron.py), never queued for the delivery workers: a target that hangs for its
    whole timeout (30 s at most) must not hold a worker that posts to Teams during the
    very outage it is checking. Each check is leased before it runs (uptime.claim_due),
    so none runs twice at once; in-process (development) the job runner calls this."""
    from concurrent.futures import ThreadPoolExecutor

    from app.db import Session
    from app.uptime import service as uptime

    def work(app):
        try:
            claimed = uptime.claim_due(Session)
            uptime.prune(Session)
        finally:
            Session.remove()
        if claimed:
            real = getattr(app, "_get_current_object", lambda: app)()  # not the proxy
            with ThreadPoolExecutor(max_workers=min(UPTIME_AT_ONCE, len(claimed)),
                                    thread_name_prefix="uptime-check") as pool:
                list(pool.map(lambda pair: _run_uptime_check(real, *pair), claimed))
        return len(claimed)

    return _run(work)


def _run_uptime_check(app: Flask, check_id: int, token: str) -> str:
    """One claimed check on a thread of its own: failures in a row open an incident
    through alert intake, and the first pass after that records the recovery on it."""
    from app.db import Session
    from app.uptime import service as uptime

    with app.app_context():
        try:
            return uptime.run(
                Session, check_id, token, org=app.extensions["org"],
                effects=app.extensions["effects"],
                incidents_per_hour=app.extensions["settings"].alert_incidents_per_hour)
        except Exception:  # one check's fault is logged; the others still run
            app.logger.exception("uptime check %s failed to run", check_id)
            return "error"
        finally:
            Session.remove()
