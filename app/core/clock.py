"""The one source of "now", so tests (and reminders later) can drive time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return _source()


def today(zone) -> date:
    """Today's date where the organisation is (`zone`, a tzinfo)."""
    return now().astimezone(zone).date()


def set_source(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None restores the real one."""
    global _source
    _source = source or (lambda: datetime.now(UTC))
