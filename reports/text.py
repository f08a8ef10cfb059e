"""Making user-written text and times safe and readable in Word.

Word files are XML: lxml refuses control characters that XML 1.0 forbids (a stray \\x00
from a pasted log would otherwise crash the build), so every string passes through
`clean` on its way in. `<`, `&` and quotes need nothing here: python-docx's text APIs
escape them.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# Vertical tab and form feed read as line breaks; the other C0 controls (but tab, LF,
# CR), lone surrogates and the two non-characters XML forbids are dropped.
_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\u2028\u2029]")
_ILLEGAL = re.compile(r"[\x00-\x08\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: object) -> str:
    """Text that XML can hold: None is "", line breaks are "\\n", illegal characters go."""
    if value is None:
        return ""
    return _ILLEGAL.sub("", _BREAKS.sub("\n", str(value)))


def one_line(value: object) -> str:
    """`clean`, with line breaks and tabs as spaces (for titles, headers, properties)."""
    return " ".join(clean(value).split())


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def duration(span: timedelta | None) -> str:
    """"2 hours 5 minutes"; days once it runs past a day; "" for None."""
    if span is None:
        return ""
    minutes = max(0, int(span.total_seconds()) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [plural(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
             if n]
    return " ".join(parts) if parts else "under a minute"


def label(value: str) -> str:
    """A stored key as words: "severity_change" → "Severity change"."""
    words = clean(value).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


class Clock:
    """Formats UTC datetimes in the organisation's time zone."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self.name = timezone

    def _local(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: snapshots hold timezone-aware UTC")
        return value.astimezone(self.zone)

    def full(self, value: datetime | None, empty: str = "") -> str:
        """"3 March 2026, 09:12 GMT"."""
        if value is None:
            return empty
        local = self._local(value)
        return f"{local.day} {local:%B %Y, %H:%M} {local.tzname()}"

    def short(self, value: datetime | None) -> str:
        """"3 Mar 2026 09:12 GMT", for table cells."""
        if value is None:
            return ""
        local = self._local(value)
        return f"{local.day} {local:%b %Y %H:%M} {local.tzname()}"

    @staticmethod
    def day(value: date | None) -> str:
        """"3 Mar 2026"."""
        return "" if value is None else f"{value.day} {value:%b %Y}"
