"""Latency and failures injected into the sandbox's Graph endpoints (never its controls).

Kinds: "429" (throttled, with Retry-After; not applied), "503" (not applied), "timeout"
(hangs, then no useful answer; not applied) and "lost_response" (applied, then the
client gets a 504: the work happened but the caller never learnt it).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("429", "503", "timeout", "lost_response")


@dataclass
class Faults:
    latency: float = 0.0
    error_rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    retry_after: float = 1.0
    hang: float = 5.0
    injected: Counter = field(default_factory=Counter)
    _targeted: list = field(default_factory=list)
    _random: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, latency: float = 0.0, error_rate: float = 0.0,
                  kinds: tuple[str, ...] = KINDS, retry_after: float = 1.0, hang: float = 5.0,
                  seed: int | None = None) -> None:
        with self._lock:
            self.latency, self.error_rate, self.kinds = latency, error_rate, tuple(kinds)
            self.retry_after, self.hang = retry_after, hang
            self._random = random.Random(seed)  # noqa: S311 - chaos for tests, not secrets

    def fail_next(self, count: int, kind: str, path_contains: str = "") -> None:
        with self._lock:
            self._targeted.extend([(kind, path_contains)] * count)

    def reset(self) -> None:
        self.configure()
        with self._lock:
            self._targeted.clear()
            self.injected.clear()

    def pick(self, method: str, path: str) -> str | None:
        """The fault for this request, if any."""
        with self._lock:
            for index, (kind, fragment) in enumerate(self._targeted):
                if fragment in f"{method} {path}":
                    del self._targeted[index]
                    self.injected[kind] += 1
                    return kind
            if self.error_rate and self._random.random() < self.error_rate:
                kind = self._random.choice(self.kinds)
                self.injected[kind] += 1
                return kind
        return None
