"""Graph's throttling, as Microsoft documents it, so that an app that does not pace
itself meets 429s here before it meets them in a tenant.

Each rule is counted per app (the token's `appid`, whoever signed in through it) and is
a tenant setting (graph/sandbox/limits.py; 0 turns it off), from
https://learn.microsoft.com/graph/throttling-limits:

- Microsoft Teams service limits, "POST channel message": 50 requests per second per app
  per tenant (`teams_rps_per_tenant`). "A maximum of 4 requests per second per app can be
  issued on a given team or channel" (`teams_rps_per_channel`, counted per channel). "A
  maximum of 3000 messages per app per day can be sent to a given channel"
  (`teams_posts_per_channel_per_day`, any 24 hours). Counted for posts and replies.
- The same "4 requests per second ... on a given team" for requests made on the team
  itself, creating a channel or adding a member (`teams_rps_per_team`): a post is
  issued on its channel, a channel's creation on its team. "POST/PUT channel": 30 rps
  per app per tenant (`teams_channel_writes_per_tenant`).
- Outlook service limits, "evaluated for each app ID and mailbox combination": 4
  concurrent requests (`outlook_concurrent_per_mailbox`), a request being in flight from
  admission until its answer (latency included); "10,000 API requests in a 10 minute
  period" (`outlook_requests_per_mailbox`). Counted for every mail and calendar route.

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
TEAM_WRITES = frozenset({routes_teams.create_channel, routes_teams.add_member})
CHANNEL_WRITES = frozenset({routes_teams.create_channel})
OUTLOOK = frozenset({routes_mail.send_mail, routes_mail.create_draft, routes_mail.send_draft,
                     routes_mail.list_folder_messages, routes_mail.delete_message,
                     routes_calendar.create_event})
DAY = 86_400.0
OUTLOOK_WINDOW = 600.0  # "10,000 API requests in a 10 minute period"
IN_FLIGHT_LEASE = 300.0  # a process that died mid-request frees its slot after this


def admit(state, principal: Principal, route, args: dict, arrived: float | None = None
          ) -> AbstractContextManager:
    """Count this request, as of when it `arrived` (epoch seconds; now by default: not
    after waiting for the sandbox's own locks), against the limits it falls under, or
    raise Graph's 429. The context it returns holds the request's concurrency slot
    until it is left."""
    now = time.time() if arrived is None else arrived
    limits, app = state.limits(), principal.app_id
    if route in CHANNEL_POSTS:
        team, channel = args["team"], args["channel"]
        _count(state, now, [
            (f"channel:{app}:{team}:{channel}", limits.teams_rps_per_channel, 1.0),
            (f"tenant:{app}", limits.teams_rps_per_tenant, 1.0),
            (f"channel-day:{app}:{team}:{channel}",
             limits.teams_posts_per_channel_per_day, DAY)])
    elif route in TEAM_WRITES:
        rules = [(f"team:{app}:{args['team']}", limits.teams_rps_per_team, 1.0)]
        if route in CHANNEL_WRITES:
            rules.append((f"channel-writes:{app}", limits.teams_channel_writes_per_tenant, 1.0))
        _count(state, now, rules)
    elif route in OUTLOOK:
        return _hold_mailbox(state, limits, principal, args.get("user"), now)
    return contextlib.nullcontext()


def _teams_429(wait: float) -> ApiError:
    return ApiError(429, "TooManyRequests", "Please retry again later.",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                    inner={"code": "429", "status": "429", "message": "Please retry after"})


def _count(state, now: float, rules: list[tuple[str, float, float]],
           refuse=_teams_429) -> None:
    """Count one request against every (key, limit, window) rule, or refuse it (not
    counted) with `refuse(seconds until there is room)`."""
    rules = [rule for rule in rules if rule[1]]
    if not rules:
        return
    with state.tx() as tx:
        wait = max(_wait(tx.conn, key, limit, window, now) for key, limit, window in rules)
        if wait > 0:
            raise refuse(wait)
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


def _outlook_429(wait: float) -> ApiError:
    return ApiError(429, "ApplicationThrottled", "Application is over its MailboxQuota limit.",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))})


def _hold_mailbox(state, limits: TenantLimits, principal: Principal, user: str | None,
                  arrived: float) -> AbstractContextManager:
    with state.tx() as tx:
        found = directory.find_user(tx, user) if user else None
    box = (found["userPrincipalName"] if found else user or principal.upn or "").lower()
    key = f"mailbox:{principal.app_id}:{box}"
    _count(state, arrived, [(f"{key}:requests", limits.outlook_requests_per_mailbox,
                             OUTLOOK_WINDOW)], refuse=_outlook_429)
    limit = limits.outlook_concurrent_per_mailbox
    if not limit:
        return contextlib.nullcontext()
    token, now = uuid.uuid4().hex, time.time()
    with state.tx() as tx:
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
