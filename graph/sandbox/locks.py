"""Files open for editing: a sandbox control for "someone has this report open in Word".

While a person has a document open in Word, SharePoint holds a lock on it and refuses to
replace its content: Graph answers 423 Locked (https://learn.microsoft.com/graph/errors:
"423 Locked: The resource that is being accessed is locked"), with the error code
`notAllowed` ("The action is not allowed by the system", same page) and, as reported
for OneDrive and SharePoint uploads, the inner code `resourceLocked` and the message
"The resource you are attempting to access is locked". The lock ends when they close the
file, or when it expires.

A lock is a `lock` document keyed like the file (`state.file_key`), so every process
sharing the state file sees it; `until` (a DateTimeOffset) makes it expire on its own,
by the state's clock.
"""

from __future__ import annotations

from datetime import datetime

from graph.sandbox.state import file_key
from graph.sandbox.wire import ApiError, iso, parse_iso, utc_now

LOCKED_MESSAGE = "The resource you are attempting to access is locked"


def lock_file(state, drive_id: str, path: str, by: str = "Someone",
              until: datetime | None = None) -> dict:
    """Hold `path` open for editing, as `by` having it open in Word, until unlocked or
    until `until` (None: until `unlock_file`)."""
    key = file_key(drive_id, path)
    with state.tx() as tx:
        return tx.put("lock", key, {"drive_id": drive_id, "path": path.strip("/"),
                                    "by": by, "since": iso(),
                                    "until": iso(until) if until else None})


def unlock_file(state, drive_id: str, path: str) -> bool:
    """Close the file in Word; False if it was not locked."""
    with state.tx() as tx:
        return tx.delete("lock", file_key(drive_id, path))


def refuse_if_locked(tx, drive_id: str, path: str) -> None:
    """Inside a write's transaction: Graph's 423 if the file is open for editing."""
    lock = tx.get("lock", file_key(drive_id, path))
    if lock is None:
        return
    if lock["until"] and parse_iso(lock["until"]) <= utc_now():
        tx.delete("lock", file_key(drive_id, path))  # expired: as if closed
        return
    raise ApiError(423, "notAllowed", LOCKED_MESSAGE, inner={"code": "resourceLocked"})
