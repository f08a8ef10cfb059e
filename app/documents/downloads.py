"""Reports downloaded from the incident page: built once per version of what they are
built from, and a bounded number at a time.

Building a long incident's report takes seconds (a 400-entry timeline of long entries
took 4-5 s, and six at once about 15 s each), and people download the same report again
and again. So the built document is kept under a key of exactly what it is built from:
the incident as the builders see it (the snapshot, so any change to the timeline, a
correction, an action or the review makes a new key; the day too, for "overdue"), the
template's bytes, the kind and whether the draft names people. The same key asked for
while it is being built waits for that build instead of starting another, and at most
MAX_BUILDS run at once in a process; a request that finds no free slot within WAIT is
refused (Busy) before any work starts.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.documents.kinds import KINDS
from reports import IncidentSnapshot, TemplateError

EXTENSION = "report_downloads"  # where the app keeps its BuildCache (app.extensions)
MAX_BUILDS = 2  # two cores: more at once only makes each slower
WAIT = 20.0  # seconds a download waits for a slot (or for the same build) before Busy
MAX_BYTES = 64 * 1024 * 1024
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Busy(Exception):
    """Every build slot stayed taken: try again shortly."""


@dataclass(frozen=True)
class Download:
    content: bytes
    template_failed: bool  # the template could not be used: built in the built-in look


class BuildCache:
    """Built documents by key, least recently used out first, within `max_bytes`."""

    def __init__(self, *, max_builds: int = MAX_BUILDS, wait: float = WAIT,
                 max_bytes: int = MAX_BYTES) -> None:
        self.wait, self.max_bytes = wait, max_bytes
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max_builds)
        self._items: OrderedDict[str, object] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._building: dict[str, threading.Event] = {}
        self.size = 0
        self.waiting = 0  # requests waiting for the same document's build
        self.queued = 0  # builds waiting for a slot

    def get(self, key: str, build: Callable[[], object], size: Callable[[object], int] = len):
        """The value kept under `key`, else `build()`'s (kept unless it raised)."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                running = self._building.get(key)
                if running is None:
                    running = self._building[key] = threading.Event()
                    break
                self.waiting += 1
            try:
                if not running.wait(self.wait):
                    raise Busy
            finally:
                with self._lock:
                    self.waiting -= 1
            # Built (and kept) now, or that build failed: look again, perhaps build.
        try:
            value = self._build(build)
            self._keep(key, value, size(value))
            return value
        finally:
            with self._lock:
                del self._building[key]
            running.set()

    def _build(self, build: Callable[[], object]) -> object:
        with self._lock:
            self.queued += 1
        try:
            acquired = self._slots.acquire(timeout=self.wait) if self.wait else \
                self._slots.acquire(blocking=False)
        finally:
            with self._lock:
                self.queued -= 1
        if not acquired:
            raise Busy
        try:
            return build()
        finally:
            self._slots.release()

    def _keep(self, key: str, value: object, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            self._items[key] = value
            self._sizes[key] = size
            self.size += size
            while self.size > self.max_bytes:
                old, _ = self._items.popitem(last=False)
                self.size -= self._sizes.pop(old)


def key_of(snap: IncidentSnapshot, kind: str, template: bytes | None, names: bool) -> str:
    """What a document is built from, as one digest. `generated_at` counts only as its
    day (what is overdue changes with it; the rest of the document does not)."""
    day = snap.generated_at.astimezone(ZoneInfo(snap.timezone)).date()
    facts = repr(replace(snap, generated_at=_EPOCH))
    digest = hashlib.sha256()
    for piece in (kind, str(names), day.isoformat(), facts):
        digest.update(piece.encode())
        digest.update(b"\0")
    digest.update(hashlib.sha256(template).digest() if template is not None else b"none")
    return digest.hexdigest()


def build(cache: BuildCache, snap: IncidentSnapshot, kind: str, template: bytes | None,
          names: bool) -> Download:
    """The report as it stands, from `cache` when nothing it is built from has changed.
    Raises Busy when no build slot comes free; a template that cannot be used gives the
    built-in look (and says so) rather than no report."""
    def make() -> Download:
        try:
            return Download(KINDS[kind].build(snap, template, names), False)
        except TemplateError:
            return Download(KINDS[kind].build(snap, None, names), True)

    return cache.get(key_of(snap, kind, template, names), make,
                     size=lambda download: len(download.content))
