"""Latency and failures injected into the sandbox's Graph endpoints and upload URLs (never
into its `/_sandbox/` controls or download URLs).

Kinds, as a caller sees them:

- "429": throttled. 429 with a Retry-After header and Graph's TooManyRequests body; the
  request is NOT applied.
- "503" / "504": an outage. 503 serviceNotAvailable (with Retry-After) or 504; NOT applied.
- "timeout": the server hangs `hang` seconds, then closes the connection without an
  answer; NOT applied.
- "lost_response": the request IS applied (state changes), then the caller gets a 504,
  as when a worker did the work but never learnt that it had.

`configure` sets random faults (`error_rate` of requests, `kinds` chosen at random, with a
`seed` for repeatable runs); `fail_next` queues targeted ones, used first.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

KINDS = ("429", "503", "504", "timeout", "lost_response")
DEFAULT_KINDS = ("429", "503", "timeout", "lost_response")


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targeted: list[tuple[str, str]] = []
        self._injected: Counter[str] = Counter()
        self.configure()

    def configure(self, latency: float = 0.0, error_rate: float = 0.0,
                  kinds: tuple[str, ...] | list[str] = DEFAULT_KINDS,
                  retry_after: float = 1.0, hang: float = 5.0,
                  seed: int | None = None) -> None:
        """Replace the random-fault settings (targeted faults and counters stay)."""
        kinds = tuple(str(kind) for kind in kinds)
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {KINDS}")
        if not 0.0 <= float(error_rate) <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if error_rate and not kinds:
            raise ValueError("an error_rate needs at least one kind")
        with self._lock:
            self.latency = max(0.0, float(latency))
            self.error_rate = float(error_rate)
            self.kinds = kinds
            self.retry_after = max(0.0, float(retry_after))
            self.hang = max(0.0, float(hang))
            self.seed = seed
            # Not for security: a repeatable stream of test failures.
            self._random = random.Random(seed)  # noqa: S311 - test chaos, not secrets

    def fail_next(self, count: int, kind: str, path_contains: str = "") -> None:
        """The next `count` requests whose "METHOD /path?query" contains `path_contains`
        fail with `kind`."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {KINDS}")
        with self._lock:
            self._targeted.extend([(kind, path_contains)] * int(count))

    def reset(self) -> None:
        """No latency, no faults, counters at zero."""
        self.configure()
        with self._lock:
            self._targeted.clear()
            self._injected.clear()

    def pick(self, method: str, path: str) -> str | None:
        """The fault for this request, if any (and count it)."""
        target = f"{method.upper()} {path}"
        with self._lock:
            for index, (kind, fragment) in enumerate(self._targeted):
                if fragment in target:
                    del self._targeted[index]
                    self._injected[kind] += 1
                    return kind
            if self.error_rate and self._random.random() < self.error_rate:
                kind = self._random.choice(self.kinds)
                self._injected[kind] += 1
                return kind
        return None

    @property
    def injected(self) -> dict[str, int]:
        """How many faults of each kind were injected since the last reset."""
        with self._lock:
            return dict(self._injected)

    @property
    def pending(self) -> int:
        """Targeted faults not used yet."""
        with self._lock:
            return len(self._targeted)

    def settings(self) -> dict:
        with self._lock:
            return {"latency": self.latency, "error_rate": self.error_rate,
                    "kinds": list(self.kinds), "retry_after": self.retry_after,
                    "hang": self.hang, "seed": self.seed, "pending": len(self._targeted),
                    "injected": dict(self._injected)}
