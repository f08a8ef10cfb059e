"""Teams-legal, unique channel names from an incident's date and title.

Teams allows at most 50 characters and none of ~ # % & * { } + / \\ : < > ? | ' " in a
standard channel name, and no leading underscore or period nor trailing period. We go
further and keep to lowercase ASCII slugs (`inc-2026-11-22-example-com-errors`), which
read well in the channel list, sort by date and survive every client.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date

from graph.port import ILLEGAL_CHANNEL_CHARACTERS, MAX_CHANNEL_NAME

PREFIX = "inc"
FALLBACK = "incident"  # a title with nothing sluggable still names the channel
MAX_SUFFIX = 999
# Letters NFKD does not take apart into ASCII plus accents.
_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o",
                          "Ø": "O", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th",
                          "Þ": "TH", "ð": "d", "Ð": "D", "\u0131": "i"})


def slug(text: str) -> str:
    """Lowercase ASCII words joined by single dashes ("Café: 50% down" → "cafe-50-down")."""
    ascii_text = (unicodedata.normalize("NFKD", text.translate(_LETTERS))
                  .encode("ascii", "ignore").decode())
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _fit(words: str, room: int) -> str:
    """As many whole words of `words` as fit in `room` characters; a single word longer
    than that is cut."""
    if len(words) <= room:
        return words
    cut = words[:room]
    if words[room] != "-" and "-" in cut:  # mid-word: drop the partial word
        cut = cut.rsplit("-", 1)[0]
    return cut.strip("-")


def channel_name(day: date, title: str, taken: Callable[[str], bool] | None = None) -> str:
    """`inc-YYYY-MM-DD-title-words`, ≤ 50 characters; `-2`, `-3`… while `taken` says a
    name is in use. Raises ValueError if even `-999` is taken."""
    base = f"{PREFIX}-{day.isoformat()}-"
    words = slug(title) or FALLBACK
    for number in range(1, MAX_SUFFIX + 1):
        suffix = "" if number == 1 else f"-{number}"
        candidate = base + _fit(words, MAX_CHANNEL_NAME - len(base) - len(suffix)) + suffix
        if taken is None or not taken(candidate):
            return candidate
    raise ValueError(f"no free channel name for {title!r} on {day}")


def channel_name_problem(name: str) -> str | None:
    """Why Teams would refuse this standard channel name, or None (any name, not only
    ours: the fake and the sandbox use it to judge what they are sent)."""
    if not name.strip():
        return "Channel name cannot be empty."
    if len(name) > MAX_CHANNEL_NAME:
        return f"Channel name cannot be longer than {MAX_CHANNEL_NAME} characters."
    if set(name) & ILLEGAL_CHANNEL_CHARACTERS:
        return "Channel name contains invalid characters."
    if name.startswith(("_", ".")) or name.endswith("."):
        return "Channel name cannot start with an underscore or period, or end with a period."
    return None
