"""Times are stored in UTC and shown in the organisation's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.core import clock


def register_filters(app, timezone: str) -> None:
    zone = ZoneInfo(timezone)

    def local(value: datetime | None, fmt: str = "%-d %b %Y %H:%M") -> str:
        if value is None:
            return ""
        local_value = value.astimezone(zone)
        return f"{local_value.strftime(fmt)} {local_value.tzname()}"

    def local_iso(value: datetime | None) -> str:
        return value.astimezone(zone).isoformat() if value else ""

    def ago(value: datetime | None) -> str:
        if value is None:
            return ""
        seconds = int((clock.now() - value).total_seconds())
        if seconds < 0:  # a time still to come (a retry, a reminder)
            minutes = -seconds // 60
            if minutes < 1:
                return "in under a minute"
            if minutes < 120:
                return f"in {minutes} minute{'s' if minutes != 1 else ''}"
            return f"in {minutes // 60} hours"
        if seconds < 60:
            return "just now"
        minutes = seconds // 60
        if minutes < 60:
            return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
        hours = minutes // 60
        if hours < 48:
            return f"{hours} hour{'s' if hours != 1 else ''} ago"
        days = hours // 24
        return f"{days} days ago"

    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["local_iso"] = local_iso
    app.jinja_env.filters["ago"] = ago

    def duration_words(value) -> str:
        from reports.text import duration

        return duration(value)

    app.jinja_env.filters["duration_words"] = duration_words
