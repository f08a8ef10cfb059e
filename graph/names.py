"""Teams-legal, unique channel names from an incident's date and title.

Teams allows at most 50 characters and none of ~ # % & * { } + / \\ : < > ? | ' " in a
standard channel name, and no leading underscore or trailing period. We go further and
keep to lowercase ASCII slugs (`inc-2026-11-22-example-com-errors`), which read well in
the channel list and survive every client.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date

from graph.port import ILLEGAL_CHANNEL_CHARACTERS, MAX_CHANNEL_NAME

PREFIX = "inc"
MAX_SUFFIX = 999


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _fit(base: str, title_slug: str, room: int) -> str:
    """The base plus as much of the title as fits in `room`, cut at a word boundary."""
    if not title_slug or room <= 1:
        return base
    if len(title_slug) + 1 > room:
        cut = title_slug[: room - 1]
        if "-" in cut and title_slug[room - 1: room] not in ("-", ""):
            cut = cut.rsplit("-", 1)[0]
        title_slug = cut.strip("-")
    return f"{base}-{title_slug}" if title_slug else base


def channel_name(day: date, title: str, taken: Callable[[str], bool] | None = None) -> str:
    """`inc-YYYY-MM-DD-title-words`, ≤ 50 characters; `-2`, `-3`… while `taken` says so."""
    base = f"{PREFIX}-{day.isoformat()}"
    title_slug = slug(title)
    name = _fit(base, title_slug, MAX_CHANNEL_NAME - len(base))
    if taken is None or not taken(name):
        return name
    for number in range(2, MAX_SUFFIX + 1):
        suffix = f"-{number}"
        candidate = _fit(base, title_slug, MAX_CHANNEL_NAME - len(base) - len(suffix)) + suffix
        if not taken(candidate):
            return candidate
    raise ValueError(f"no free channel name for {title!r} on {day}")


def channel_name_problem(name: str) -> str | None:
    """Why Teams would refuse this standard channel name, or None."""
    if not name.strip():
        return "Channel name cannot be empty."
    if len(name) > MAX_CHANNEL_NAME:
        return f"Channel name cannot be longer than {MAX_CHANNEL_NAME} characters."
    if set(name) & ILLEGAL_CHANNEL_CHARACTERS:
        return "Channel name contains invalid characters."
    if name.startswith("_") or name.endswith("."):
        return "Channel name cannot start with an underscore or end with a period."
    return None
