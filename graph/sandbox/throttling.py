"""Graph's throttling, as Microsoft documents it, so that an app that does not pace
itself meets 429s here before it meets them in a tenant.

Each rule is counted per app (the token's `appid`, whoever signed in through it) and is
a tenant setting (graph/sandbox/limits.py; 0 turns it off), from
https://learn.microsoft.com/graph/throttling-limits:

- Microsoft Teams service limits, "POST channel message": 50 requests per second per app
  per tenant (`teams_rps_per_tenant`). "A maximum of 4 requests per second per app can be
  issued on a given team or channel" (`teams_rps_per_channel`, counted per channel). "A
  maximum of 3000 messages per app per day can be sent to a given channel"
  (`teams_posts_per_channel_per_day`, any 24 hours). Counted for posts and replies only;
  other requests on a team or channel are not counted here.
- Outlook service limits: 4 concurrent requests, "evaluated for each app ID and mailbox
  combination" (`outlook_concurrent_per_mailbox`), for sending mail, drafts and calendar
  events. A request is in flight from admission until its answer (latency included).

A throttled request is not applied and is answered as Graph answers: 429 with
Retry-After in whole seconds (until the window has room). Teams: TooManyRequests, as in
https://learn.microsoft.com/graph/throttling#sample-response. Outlook: ApplicationThrottled
"Application is over its MailboxConcurrency limit.", as Outlook is reported to answer.

The counts live in the state's SQLite file (tables `throttle` and `in_flight`), so every
process serving one state file shares them. Times are the system's, as tokens' are,
whatever clock a test gives the state.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from graph.sandbox import directory, routes_calendar, routes_mail, routes_teams
from graph.sandbox.auth import Principal
from graph.sandbox.limits import TenantLimits
from graph.sandbox.wire import ApiError

CHANNEL_POSTS = frozenset({routes_teams.post_message, routes_teams.post_reply})
OUTLOOK = frozenset({routes_mail.send_mail, routes_mail.create_draft, routes_mail.send_draft,
                     routes_calendar.create_event})
DAY = 86_400.0
IN_FLIGHT_LEASE = 300.0  # a process that died mid-request frees its slot after this


def admit(state, principal: Principal, route, args: dict, arrived: float | None = None
          ) -> AbstractContextManager:
    """Count this request, as of when it `arrived` (epoch seconds; now by default: not
    after waiting for the sandbox's own locks), against the limits it falls under, or
    raise Graph's 429. The context it returns holds the request's concurrency slot
    until it is left."""
    now = time.time() if arrived is None else arrived
    if route in CHANNEL_POSTS:
        _count_post(state, state.limits(), principal.app_id, args["team"], args["channel"],
                    now)
    elif route in OUTLOOK:
        return _hold_mailbox(state, state.limits(), principal, args.get("user"))
    return contextlib.nullcontext()


def _count_post(state, limits: TenantLimits, app_id: str, team: str, channel: str,
                now: float) -> None:
    rules = [(f"channel:{app_id}:{team}:{channel}", limits.teams_rps_per_channel, 1.0),
             (f"tenant:{app_id}", limits.teams_rps_per_tenant, 1.0),
             (f"channel-day:{app_id}:{team}:{channel}",
              limits.teams_posts_per_channel_per_day, DAY)]
    rules = [rule for rule in rules if rule[1]]
    if not rules:
        return
    with state.tx() as tx:
        wait = max(_wait(tx.conn, key, limit, window, now) for key, limit, window in rules)
        if wait > 0:
            raise ApiError(429, "TooManyRequests", "Please retry again later.",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))},
                           inner={"code": "429", "status": "429",
                                  "message": "Please retry after"})
        tx.conn.executemany("INSERT INTO throttle (key, at) VALUES (?, ?)",
                            [(key, now) for key, _limit, _window in rules])


def _wait(conn, key: str, limit: float, window: float, now: float) -> float:
    """Seconds until `key` has room for one more request in its sliding window (one
    that arrived a moment later but was counted first counts too)."""
    conn.execute("DELETE FROM throttle WHERE key = ? AND at <= ?", (key, now - window))
    (count,) = conn.execute("SELECT COUNT(*) FROM throttle WHERE key = ?", (key,)).fetchone()
    if count < limit:
        return 0.0
    # Room comes when all but limit - 1 of the requests in the window have left it.
    (leaving,) = conn.execute("SELECT at FROM throttle WHERE key = ? ORDER BY at "
                              "LIMIT 1 OFFSET ?", (key, count - math.ceil(limit))).fetchone()
    return leaving + window - now


def _hold_mailbox(state, limits: TenantLimits, principal: Principal, user: str | None
                  ) -> AbstractContextManager:
    limit = limits.outlook_concurrent_per_mailbox
    if not limit:
        return contextlib.nullcontext()
    token, now = uuid.uuid4().hex, time.time()
    with state.tx() as tx:
        found = directory.find_user(tx, user) if user else None
        box = (found["userPrincipalName"] if found else user or principal.upn or "").lower()
        key = f"mailbox:{principal.app_id}:{box}"
        tx.conn.execute("DELETE FROM in_flight WHERE until <= ?", (now,))
        (busy,) = tx.conn.execute("SELECT COUNT(*) FROM in_flight WHERE key = ?",
                                  (key,)).fetchone()
        if busy >= limit:
            raise ApiError(429, "ApplicationThrottled",
                           "Application is over its MailboxConcurrency limit.",
                           headers={"Retry-After": "1"})
        tx.conn.execute("INSERT INTO in_flight (token, key, until) VALUES (?, ?, ?)",
                        (token, key, now + IN_FLIGHT_LEASE))
    return _in_flight(state, token)


@contextmanager
def _in_flight(state, token: str) -> Iterator[None]:
    try:
        yield
    finally:
        with state.tx() as tx:
            tx.conn.execute("DELETE FROM in_flight WHERE token = ?", (token,))
