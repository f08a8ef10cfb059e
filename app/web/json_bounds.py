"""JSON read from outside with a bound on its nesting, checked before it is parsed.

Python's parser recurses once per level: a body of 100,000 `[` raised RecursionError,
which no handler expects (a 500). The check strips strings and counts brackets, in time
linear in the body; the body's size is bounded by MAX_CONTENT_LENGTH (the API's lower).
"""

from __future__ import annotations

import json
import re

from flask.json.provider import DefaultJSONProvider

DEPTH_MAX = 32  # any JSON the app reads (alert payloads, sessions); the API allows less

# A string, closed or not: the closing quote is optional so an unclosed one is consumed in
# one pass instead of being tried again from every later quote.
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"?')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


class TooDeeplyNested(ValueError):
    """Nested deeper than allowed: a ValueError, so `request.get_json` answers 400."""

    def __init__(self, limit: int):
        super().__init__(f"The JSON is nested too deeply: at most {limit} levels of [ and {{.")
        self.limit = limit


def check_depth(text: str, limit: int) -> None:
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    if len(brackets) <= limit:
        return
    depth = 0
    for bracket in brackets:
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            raise TooDeeplyNested(limit)


def as_text(raw: str | bytes | bytearray) -> str:
    if isinstance(raw, str):
        return raw
    return bytes(raw).decode(json.detect_encoding(raw), "surrogatepass")


def loads(raw: str | bytes | bytearray, limit: int = DEPTH_MAX):
    text = as_text(raw)
    check_depth(text, limit)
    return json.loads(text)


class BoundedJSONProvider(DefaultJSONProvider):
    """app.json: what request.get_json (and so every JSON body) parses with."""

    def loads(self, s: str | bytes, **kwargs):
        check_depth(as_text(s), DEPTH_MAX)
        return super().loads(s, **kwargs)
