"""The public status page and feed, rendered once per change and kept per process.

During a big outage thousands of people refresh /status. Each gunicorn worker keeps the
bytes it last rendered for each page with the `public_version` they were rendered from,
and asks the database for the version at most once every `FLOOR` seconds; a request in
between costs a dictionary lookup. So a change is served by every worker at most `FLOOR`
seconds (plus one render) after it commits, and a worker renders each page once per change
(four renders for the README's four workers). Kept per process, not in Redis: a Redis
round trip per request would cost about what the lookup saves, the app runs without Redis
too, and four renders a change are nothing.

The bytes depend only on the version, never on the request or the clock (the template
shows no "now"), so every worker renders the same bytes for the same content and the
strong ETag (a digest of the bytes) is the same from any worker and after a restart: a
browser's `If-None-Match` gets a 304 wherever it lands. No Last-Modified: no stored time
covers every change (a service renamed or made public has none), and each worker's own
render times would differ by up to `FLOOR`, so `If-Modified-Since` could keep an old page.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

FLOOR = 1.0  # seconds between two looks at the version, per process
# Browsers and shared caches may keep a copy this long, and a cache may hand out one
# this much older while it asks again in the background: at most 1 + 5 + 10 s old.
MAX_AGE = 5
STALE_WHILE_REVALIDATE = 10
CACHE_CONTROL = f"public, max-age={MAX_AGE}, stale-while-revalidate={STALE_WHILE_REVALIDATE}"
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str  # unquoted; a digest of body
    script_hashes: str  # CSP sources for the body's inline scripts ("'sha256-…' …")


def rendered(body: bytes) -> Rendered:
    """The bytes with their ETag and the hashes a CSP needs for their inline scripts (a
    page kept for everyone cannot carry a per-request nonce)."""
    hashes = sorted({"'sha256-" + base64.b64encode(hashlib.sha256(s).digest()).decode() + "'"
                     for s in INLINE_SCRIPT.findall(body)})
    return Rendered(body, hashlib.sha256(body).hexdigest()[:32], " ".join(hashes))


class RenderedOnce:
    """Rendered pages by name, each kept until the version changes."""

    def __init__(self, floor: float = FLOOR, timer: Callable[[], float] = time.monotonic):
        self.floor = floor
        self.timer = timer  # tests move it
        self.renders = 0
        self._lock = threading.Lock()
        self._version: Hashable = None
        self._generation = 0  # moves on each time the version changes
        self._checked: float | None = None  # when the version was last read (timer)
        self._pages: dict[str, tuple[int, Rendered]] = {}

    def get(self, name: str, version_of: Callable[[], Hashable],
            render: Callable[[], bytes]) -> Rendered:
        kept = self._pages.get(name)
        if kept is not None and kept[0] == self._generation and self._fresh():
            return kept[1]
        with self._lock:  # threads of one process: one of them reads and renders
            if not self._fresh():
                started = self.timer()  # the page is at most `floor` older than this
                version = version_of()
                if version != self._version:
                    self._version, self._generation = version, self._generation + 1
                self._checked = started
            kept = self._pages.get(name)
            if kept is None or kept[0] != self._generation:
                page = rendered(render())
                self.renders += 1
                if kept is not None and kept[1].etag == page.etag:
                    page = kept[1]  # the same bytes: nothing a visitor could see changed
                self._pages[name] = kept = (self._generation, page)
            return kept[1]

    def _fresh(self) -> bool:
        return self._checked is not None and self.timer() - self._checked < self.floor
