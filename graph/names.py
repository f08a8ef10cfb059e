"""Teams-legal, unique channel names from an incident's reference, date and title.

Teams allows at most 50 characters and none of ~ # % & * { } + / \\ : < > ? | ' " in a
standard channel name, and no leading underscore or period nor trailing period. Letters
of any script are allowed, so a title keeps its words whatever it is written in
(`inc-0042-2026-11-22-ошибки-оплаты`). The reference and date come first: the channel
carries the reference people quote (INC-2026-0042), and a title with no letters at all
(only emoji, say) still names its incident.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date

from graph.port import ILLEGAL_CHANNEL_CHARACTERS, MAX_CHANNEL_NAME

PREFIX = "inc"  # names the channel when the reference gives nothing to name it by
MAX_SUFFIX = 999
MAX_REFERENCE = 20  # characters of a reference kept, so the title always has room
_REFERENCE = re.compile(r"(?P<letters>[^\W\d_]+)-(?P<year>\d{4})-(?P<number>\d+)")
# Marks that change how a character is drawn, not which word it spells (variation
# selectors, e.g. the one after an emoji); dropped like the emoji itself.
_SELECTORS = re.compile("[\u034f\u180b-\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _kind(character: str) -> str:
    """'letter' (letters and digits of any script), 'mark' (accents and vowel signs that
    belong to the letter before them), 'drop' (invisible format characters) or 'gap'
    (everything else: a word break)."""
    category = unicodedata.category(character)
    if category[0] in "LN":
        return "letter"
    if category in ("Mn", "Mc"):
        return "mark"
    return "drop" if category == "Cf" else "gap"


def slug(text: str) -> str:
    """Words of any script, lowercased and NFKC-normalised, joined by single dashes
    ("Café: 50% down" → "café-50-down", "Ошибка 🔥" → "ошибка", fullwidth letters → ASCII);
    emoji, symbols, punctuation and control characters are word breaks."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())
    out: list[str] = []
    for character in _SELECTORS.sub("", text):
        kind = _kind(character)
        in_word = bool(out) and out[-1] != "-"
        if kind == "letter" or (kind == "mark" and in_word):
            out.append(character)
        elif kind != "drop" and in_word:
            out.append("-")
    # Again: dropping a character can bring a letter and a mark together.
    return unicodedata.normalize("NFKC", "".join(out)).strip("-")


def length(name: str) -> int:
    """Characters as Teams counts them: UTF-16 code units, so 𠀀 and the other characters
    beyond U+FFFF count twice."""
    return len(name.encode("utf-16-le")) // 2


def _prefix_within(words: str, room: int) -> int:
    """How many characters of `words` fit in `room`, never parting a letter from the
    marks after it."""
    used = end = 0
    while end < len(words) and used + length(words[end]) <= room:
        used, end = used + length(words[end]), end + 1
    while 0 < end < len(words) and unicodedata.category(words[end]) in ("Mn", "Mc"):
        end -= 1
    return end


def _fit(words: str, room: int) -> str:
    """As many whole words of `words` as fit in `room`; a single word longer than that
    is cut."""
    end = _prefix_within(words, room)
    if end == len(words):
        return words
    cut = words[:end]
    if words[end] != "-" and "-" in cut:  # mid-word: drop the partial word
        cut = cut.rsplit("-", 1)[0]
    return cut.strip("-")


def _reference_part(reference: str, day: date) -> str:
    """'INC-2026-0042' declared on a 2026 day is 'inc-0042': the date after it names the
    year. A reference of another year (declared at midnight on new year's eve in another
    time zone) or of another shape is kept whole."""
    words = slug(reference)
    match = _REFERENCE.fullmatch(words)
    if match and int(match["year"]) == day.year:
        words = f"{match['letters']}-{match['number']}"
    return _fit(words, MAX_REFERENCE) or PREFIX


def channel_name(day: date, title: str, taken: Callable[[str], bool] | None = None, *,
                 reference: str) -> str:
    """`inc-0042-YYYY-MM-DD-title-words`, ≤ 50 characters; `-2`, `-3`… while `taken`
    says a name is in use. Raises ValueError if even `-999` is taken."""
    base = f"{_reference_part(reference, day)}-{day.isoformat()}"
    words = slug(title)
    for number in range(1, MAX_SUFFIX + 1):
        suffix = "" if number == 1 else f"-{number}"
        title_part = _fit(words, MAX_CHANNEL_NAME - length(base) - 1 - len(suffix))
        candidate = base + (f"-{title_part}" if title_part else "") + suffix
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
