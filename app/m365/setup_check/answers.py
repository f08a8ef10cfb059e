"""What Graph's answer to a probe means.

Graph checks whether the caller may make a request (its token's permissions, then the
resource's own grants: Sites.Selected, Exchange RBAC scopes, team membership) before it
looks at what the request asks for. So a request built to be invalid is refused with 403
when a permission is missing and with 400 when it is present, and changes nothing either
way: that is how the write probes test a permission without writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graph.port import Conflict, GraphError, InvalidRequest

DONE = "done"  # 2xx: Graph did it
INVALID = "invalid"  # 400/409/422: allowed, and refused for what it asked
REFUSED = "refused"  # 401/403: not allowed
NOT_FOUND = "not found"  # 404: no such team, channel, mailbox, site, list or drive
UNANSWERED = "unanswered"  # no answer, throttled or failing: try again later


@dataclass(frozen=True)
class Answer:
    kind: str
    value: Any = None
    error: GraphError | None = None

    @property
    def said(self) -> str:
        """Graph's answer in words, for a finding's detail."""
        return said(self.error) if self.error is not None else "Microsoft Graph did it."


def attempt(call: Callable[[], Any]) -> Answer:
    """Make the request and sort Graph's answer; other exceptions (bugs) propagate."""
    try:
        return Answer(DONE, call())
    except GraphError as error:
        if error.status in (401, 403):
            return Answer(REFUSED, error=error)
        if error.status == 404:
            return Answer(NOT_FOUND, error=error)
        if isinstance(error, InvalidRequest | Conflict):
            return Answer(INVALID, error=error)
        return Answer(UNANSWERED, error=error)


def said(error: GraphError) -> str:
    if error.status == 0:
        return f"Microsoft Graph did not answer: {error.message}"
    code = f" {error.code}" if error.code else ""
    return f"Microsoft Graph answered {error.status}{code}: {error.message}"
