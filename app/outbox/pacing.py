"""Keeping deliveries inside Microsoft Graph's published throttling limits, so that a
burst of updates or a flood of alert-opened incidents provokes no 429s. The runner's
Retry-After handling stays, as the safety net for limits nobody told us of.

Microsoft's numbers, from https://learn.microsoft.com/graph/throttling-limits ("Microsoft
Teams service limits" and "Outlook service limits"); this app is one app, so Graph's
"per app" is every delivery:
- POST channel message: 50 requests per second per app per tenant; "a maximum of 4
  requests per second per app can be issued on a given team or channel"; "a maximum of
  3000 messages per app per day can be sent to a given channel".
- POST/PUT channel: 30 requests per second per app per tenant; a channel is created "on
  a given team", so the 4 a second apply to the team too (as to adding its members).
- Outlook, per app ID and mailbox combination: 4 concurrent requests, and 10,000
  requests in 10 minutes.

A rate is a sliding window of booked send times per key (e.g. one channel). A delivery
books the earliest moment at which every key it counts against has room: its slot. A
moment away, it waits and sends. Otherwise it goes back to the outbox keeping its slot,
to be queued again a `lead` before it (runner.py): no worker sleeps for long, and a
backlog drains in booking order instead of stampeding every window. Windows are MARGIN
longer than Microsoft's, as our clock is not Graph's and requests take varying time to
reach it. Booked slots are a plan; the last guard (`Pacer._settle`) checks what really
left and was answered, as a call late for its slot would otherwise reach Graph inside
the next window. A concurrency limit is a set of leases per key, held during the Graph
calls.

RQ workers share a RedisLimiter (redis_limiter.py: Lua scripts, atomic, on Redis's
clock, and every key expires); in-process jobs use a LocalLimiter of their own.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rate:
    """At most `limit` calls in any `seconds`."""

    limit: int
    seconds: float


# https://learn.microsoft.com/graph/throttling-limits#microsoft-teams-service-limits
TEAMS_POSTS_PER_CHANNEL = Rate(4, 1.0)  # "4 requests per second per app ... channel"
TEAMS_POSTS_PER_TENANT = Rate(50, 1.0)  # "POST channel message": 50 rps per app per tenant
TEAMS_POSTS_PER_CHANNEL_PER_DAY = Rate(3000, 86_400.0)  # "3000 messages per app per day"
TEAMS_REQUESTS_PER_TEAM = Rate(4, 1.0)  # the same 4 rps "on a given team": a new channel
TEAMS_CHANNEL_WRITES_PER_TENANT = Rate(30, 1.0)  # "POST/PUT channel": 30 rps per app per tenant
# https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits
OUTLOOK_CONCURRENT_PER_MAILBOX = 4  # "4 concurrent requests", per app ID and mailbox
OUTLOOK_REQUESTS_PER_MAILBOX = Rate(10_000, 600.0)  # "10,000 API requests in a 10 minute period"

MARGIN = 0.05  # seconds added to each window
GRACE = 0.05  # a delivery this late for its slot still uses it; later, it books anew
LEAD = 0.5  # seconds: a paced delivery is queued this much before its slot, to be ready
BUSY_RETRY = 1.0  # seconds until a delivery that found no free slot tries again
# A concurrency slot of a worker that died is free after this; a live one's is renewed
# with its claim (lease.py), so the two last as long.
LEASE = 30.0
# A call in flight counts as "now" for this long at most (a channel post's Graph
# deadline, graph/client.py), in case its worker dies before the answer.
IN_FLIGHT = 10.0
IN_FLIGHT_RETRY = 0.05  # seconds: a window's calls were all in flight; look again
SETTLE_FOR = 2.0  # seconds the last guard waits at most, then sends (429 handling remains)


@dataclass(frozen=True)
class Need:
    """What one delivery's Graph calls count against: rates by key, and concurrency
    slots by key (with how many may be held at once)."""

    rates: tuple[tuple[str, Rate], ...] = ()
    slots: tuple[tuple[str, int], ...] = ()


@dataclass
class Admission:
    """Send now (and `release` afterwards), or come back in `wait` seconds, keeping
    `slot` (the limiter's milliseconds) if one was booked."""

    wait: float = 0.0
    slot: int | None = None
    release: Callable[[], None] = field(default=lambda: None)
    renew: Callable[[], None] = field(default=lambda: None)  # keep held slots another LEASE


class Limiter(Protocol):
    def book(self, member: str, rates: Sequence[tuple[str, int, int]],
             kept: int | None) -> tuple[int, int]:
        """Book `member` one call on every (key, limit, window ms) at the earliest moment
        all have room, or keep `kept` if it is still `member`'s and not GRACE past.
        Returns (slot, now) in milliseconds of the limiter's clock."""

    def depart(self, rates: Sequence[tuple[str, int, int]], member: str) -> int:
        """Milliseconds until `member`'s call may leave: until, on each key, the
        `limit`-th latest call is a window old, a call still in flight counting as now
        and an answered one as when it was answered (it reached Graph by then). If 0,
        `member`'s call is in flight from now, recorded in the same step so calls
        leaving together see each other."""

    def sent(self, rates: Sequence[tuple[str, int, int]], member: str) -> None:
        """`member`'s call on these keys has been answered, now."""

    def hold(self, key: str, member: str, limit: int) -> bool:
        """Take one of `limit` slots for `member`; False if all are taken."""

    def free(self, key: str, member: str) -> None:
        """Give `member`'s slot back (a lease frees it anyway if this never comes)."""


def window_ms(rate: Rate) -> int:
    return round((rate.seconds + MARGIN) * 1000)


def exact_ms(rate: Rate) -> int:
    return round(rate.seconds * 1000)


def earliest(now: int, logs: Sequence[tuple[Sequence[int], int, int]]) -> int:
    """The first moment from `now` at which one more booking keeps every window of
    every (sorted booked times, limit, window) log within its limit. A booking at t is
    safe if fewer than `limit` others lie within a window either side of it, because
    every window containing t lies there; bookings may be in the future."""
    slot = now
    moved = True
    while moved:
        moved = False
        for booked, limit, window in logs:
            low = bisect.bisect_right(booked, slot - window)
            high = bisect.bisect_left(booked, slot + window)
            if high - low >= limit:  # the first high-low-limit+1 of those must be left
                slot = booked[low + (high - low - limit)] + window
                moved = True
    return slot


def leave_after(now: int, flying: int, answered: Sequence[int], limit: int,
                window: int) -> int:
    """Milliseconds until one more call keeps the window ending when it reaches Graph
    within `limit`: the `flying` calls in flight may reach it at any moment up to then,
    the `answered` ones (sorted answer times) did by their answers."""
    if flying >= limit:
        return round(IN_FLIGHT_RETRY * 1000)
    need = limit - flying
    if len(answered) < need:
        return 0
    return max(0, answered[-need] + window - now)


class LocalLimiter:
    """One process's limiter, for in-process jobs (threads share it)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._booked: dict[str, dict[str, int]] = {}
        self._held: dict[str, dict[str, int]] = {}
        self._windows: dict[str, int] = {}
        self._sent: dict[str, tuple[int, dict[str, int]]] = {}  # window, latest answers
        self._flying: dict[str, dict[str, int]] = {}  # calls in flight, until when

    def _now(self) -> int:
        return round(self._clock() * 1000)

    def book(self, member, rates, kept):
        with self._lock:
            now = self._now()
            if kept is not None and now <= kept + GRACE * 1000 and all(
                    self._booked.get(key, {}).get(member) == kept for key, _, _ in rates):
                return kept, now
            self._forget_old(now)
            logs = []
            for key, limit, window in rates:
                entries = self._booked.setdefault(key, {})
                entries.pop(member, None)
                self._windows[key] = window
                logs.append((sorted(entries.values()), limit, window))
            slot = earliest(now, logs)
            for key, _, _ in rates:
                self._booked[key][member] = slot
            return slot, now

    def _forget_old(self, now: int) -> None:
        """Bookings and calls a window old can no longer matter; keys left empty go."""
        for key, (window, calls) in list(self._sent.items()):
            if max(calls.values()) <= now - window:
                del self._sent[key]
        for key in list(self._booked):
            window = self._windows[key]
            entries = {m: at for m, at in self._booked[key].items() if at > now - window}
            if entries:
                self._booked[key] = entries
            else:
                del self._booked[key], self._windows[key]

    def depart(self, rates, member):
        with self._lock:
            now = self._now()
            wait = 0
            for key, limit, window in rates:
                flying = {m: until for m, until in self._flying.pop(key, {}).items()
                          if until > now and m != member}
                if flying:  # keys left empty go, as _forget_old does for bookings
                    self._flying[key] = flying
                wait = max(wait, leave_after(
                    now, len(flying), sorted(self._sent.get(key, (0, {}))[1].values()),
                    limit, window))
            if wait <= 0:
                for key, _, _ in rates:
                    self._flying.setdefault(key, {})[member] = now + round(IN_FLIGHT * 1000)
            return wait

    def sent(self, rates, member):
        with self._lock:
            now = self._now()
            for key, limit, window in rates:
                self._flying.get(key, {}).pop(member, None)
                if not self._flying.get(key, True):
                    del self._flying[key]
                calls = {m: t for m, t in self._sent.get(key, (0, {}))[1].items()
                         if t > now - window}
                calls[member] = now
                self._sent[key] = (window, dict(sorted(calls.items(),
                                                       key=lambda call: call[1])[-limit:]))

    def hold(self, key, member, limit):
        with self._lock:
            now = self._now()
            holders = {m: until for m, until in self._held.get(key, {}).items()
                       if until > now}
            if member not in holders and len(holders) >= limit:
                self._held[key] = holders
                return False
            holders[member] = now + round(LEASE * 1000)
            self._held[key] = holders
            return True

    def free(self, key, member):
        with self._lock:
            holders = self._held.get(key, {})
            holders.pop(member, None)
            if not holders:
                self._held.pop(key, None)


class Pacer:
    """What the runner asks before a delivery calls Graph. `lead`: how long before its
    slot a paced delivery is queued again, to be claimed and ready in time; it then
    waits out the rest. `fresh_wait`: the longest a delivery that has just booked waits
    where it is instead (by default as long)."""

    def __init__(self, limiter: Limiter, need_of: Callable[..., Need | None],
                 lead: float = LEAD, fresh_wait: float | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.limiter, self.need_of, self._sleep = limiter, need_of, sleep
        self.lead, self.short_wait = lead, lead + 0.1
        self.fresh_wait = self.short_wait if fresh_wait is None else fresh_wait

    def admit(self, member: str, need: Need, kept: int | None = None) -> Admission:
        """May wait up to `short_wait`. If Redis fails, the delivery goes unpaced (the
        runner's 429 handling covers it) rather than not at all."""
        from redis.exceptions import RedisError

        try:
            return self._admit(member, need, kept)
        except RedisError as error:
            log.warning("pacing unavailable, sending %s unpaced: %s", member, error)
            return Admission()

    def _admit(self, member: str, need: Need, kept: int | None) -> Admission:
        if need.rates:
            rates = [(key, rate.limit, window_ms(rate)) for key, rate in need.rates]
            slot, now = self.limiter.book(member, rates, kept)
            wait = (slot - now) / 1000
            if wait > (self.short_wait if slot == kept else self.fresh_wait):
                return Admission(wait=max(0.01, wait - self.lead), slot=slot)
            if wait > 0:
                self._sleep(wait)
            self._settle([(key, rate.limit, exact_ms(rate)) for key, rate in need.rates],
                         member)
        held: list[str] = []
        for key, limit in need.slots:
            if not self._hold(key, member, limit):
                for taken in held:
                    self.limiter.free(taken, member)
                return Admission(wait=BUSY_RETRY)
            held.append(key)
        exact = [(key, rate.limit, exact_ms(rate)) for key, rate in need.rates]
        limits = dict(need.slots)
        return Admission(release=lambda: self._done(exact, held, member),
                         renew=lambda: [self.limiter.hold(key, member, limits[key])
                                        for key in held])

    def _settle(self, rates: list[tuple[str, int, int]], member: str) -> None:
        """The last guard, on what really left: bookings keep slots a window apart, but
        a call that leaves its slot late (a busy process) or reaches Graph late (a slow
        network) lands nearer the next window's calls. So a call leaves only when the
        window ending at its arrival can hold it, counting every call still in flight
        as arriving now and every answered one as at its answer: Microsoft's exact
        window suffices, as neither can have reached Graph later than that."""
        waited = 0.0
        while waited < SETTLE_FOR:
            wait = self.limiter.depart(rates, member) / 1000
            if wait <= 0:
                return
            wait = min(wait, self.short_wait, SETTLE_FOR - waited)
            self._sleep(wait)
            waited += wait
        log.warning("pacing: %s sent without room (calls stayed in flight)", member)

    def _done(self, rates: list[tuple[str, int, int]], keys: list[str], member: str) -> None:
        """After the call; if Redis fails here, the slot's lease frees it later."""
        from redis.exceptions import RedisError

        try:
            if rates:
                self.limiter.sent(rates, member)
            for key in keys:
                self.limiter.free(key, member)
        except RedisError as error:
            log.warning("pacing: could not record %s's call: %s", member, error)

    def _hold(self, key: str, member: str, limit: int) -> bool:
        """A slot, trying again for up to `short_wait` (a mail is over in moments)."""
        for _ in range(5):
            if self.limiter.hold(key, member, limit):
                return True
            self._sleep(self.short_wait / 5)
        return False
