"""Page numbers from the query string, bounded before any query runs.

`?page=9223372036854775807` became an OFFSET no database column holds (a 500). Pages
are whole numbers from 1 to PAGE_MAX; past the last page a list is empty or, on the web,
shows the last page.
"""

from __future__ import annotations

PAGE_MAX = 10_000


def strict(args, name: str = "page") -> int | None:
    """The page asked for (1 if none); None if it is not a whole number in range."""
    number = _number((args.get(name) or "1").strip())
    return number if number is not None and 1 <= number <= PAGE_MAX else None


def lenient(args, name: str = "page") -> int:
    """For pages people follow links to: nonsense is page 1, too large is PAGE_MAX."""
    number = _number((args.get(name) or "").strip())
    return 1 if number is None else max(1, min(PAGE_MAX, number))


def _number(text: str) -> int | None:
    """Digits as a number, without converting thousands of them (PAGE_MAX + 1 stands for
    anything longer than PAGE_MAX has digits)."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return PAGE_MAX + 1 if len(digits) > len(str(PAGE_MAX)) else int(digits)


def refusal(name: str = "page") -> str:
    return f"{name} must be a whole number from 1 to {PAGE_MAX:,}."
