"""Pure lifecycle rules: which status may follow which, and what each needs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IncidentStatus(StrEnum):
    """An incident's status, as stored (the strings are the database's values)."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"


INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED, CLOSED = IncidentStatus
FINISHED = frozenset({RESOLVED, CLOSED})  # users no longer affected


@dataclass(frozen=True)
class Status:
    key: str
    label: str
    hint: str


STATUSES = (
    Status("investigating", "Investigating", "We know something is wrong and are looking into it."),
    Status("identified", "Identified", "We know the cause and are working on a fix."),
    Status("monitoring", "Monitoring", "A fix is in place and we are watching that it holds."),
    Status("resolved", "Resolved", "Users are no longer affected (the fix may be temporary)."),
    Status("closed", "Closed", "Follow-up is recorded; nothing more to do in the response."),
)
STATUS_BY_KEY = {s.key: s for s in STATUSES}
OPEN_STATUSES = (INVESTIGATING, IDENTIFIED, MONITORING)

_ACTIVE = set(OPEN_STATUSES)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    INVESTIGATING: (IDENTIFIED, MONITORING, RESOLVED),
    IDENTIFIED: (INVESTIGATING, MONITORING, RESOLVED),
    MONITORING: (INVESTIGATING, IDENTIFIED, RESOLVED),
    RESOLVED: (CLOSED, INVESTIGATING),  # investigating again = reopened
    CLOSED: (),
}


def refuse_if_closed(status: str, cannot: str) -> None:
    """The one guard for "a closed incident cannot ...": closed is final (reopening is a
    new incident), so every change refuses it, saying what could not be done."""
    if status == CLOSED:
        raise RuleError(f"A closed incident cannot {cannot}.")


class RuleError(ValueError):
    """A request that breaks a rule; `field` names the form field to show it against."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def attach_to(self, form) -> None:
        """Show it against its field, or at the top of the form when it has none."""
        field = getattr(form, self.field, None) if self.field else None
        if field is not None:
            field.errors = [*field.errors, self.message]
        else:
            form.form_errors.append(self.message)


class AlreadyDeclared(RuleError):
    """The form or card was used to declare already (service.declare's `declare_key`):
    `incident` is what it declared, for the caller to show to whoever may see it."""

    def __init__(self, incident):
        super().__init__(f"This was declared already, as {incident.reference}.")
        self.incident = incident


def next_statuses(current: str) -> tuple[str, ...]:
    return TRANSITIONS.get(current, ())


def check_transition(current: str, target: str, note: str) -> None:
    if target not in STATUS_BY_KEY:
        raise RuleError("Choose a status from the list.", "status")
    if target == current:
        raise RuleError(f"The incident is already {STATUS_BY_KEY[current].label.lower()}.",
                        "status")
    if target not in TRANSITIONS.get(current, ()):
        if current == CLOSED:
            raise RuleError("A closed incident cannot change status. Declare a new incident.",
                            "status")
        if target == CLOSED:
            raise RuleError("Resolve the incident before you close it.", "status")
        raise RuleError(
            f"An incident that is {STATUS_BY_KEY[current].label.lower()} cannot move to "
            f"{STATUS_BY_KEY[target].label.lower()}.",
            "status",
        )
    if target == RESOLVED and not note.strip():
        raise RuleError("Say how the incident was resolved, for example what fixed it.", "note")
    if current == RESOLVED and target in _ACTIVE and not note.strip():
        raise RuleError("Say why the incident is being reopened.", "note")


INCIDENT_SERIES = "INC"
# Security incidents number apart: a gap in INC would tell everyone one was declared.
SECURITY_SERIES = "SEC"
SERIES = (INCIDENT_SERIES, SECURITY_SERIES)


def series_for(is_security: bool) -> str:
    return SECURITY_SERIES if is_security else INCIDENT_SERIES


def format_reference(year: int, number: int, series: str = INCIDENT_SERIES) -> str:
    """INC-2026-0042, or SEC-2026-0007 for a security incident."""
    return f"{series}-{year}-{number:04d}"


def normalise_service_name(name: str) -> str:
    return " ".join(name.split())
