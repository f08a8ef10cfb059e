"""Organisation settings: the severity scale and the role set, from seeds or a JSON file.

Defaults follow the playbooks in shared/seeds: P1/P2/P3 (teacher services, the platform
team) or critical/major/minor/trivial (the agency), and the roles they name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Severity:
    key: str
    label: str
    description: str
    update_every_minutes: int
    major: bool = False  # announced widely; gets a major-incident report
    policies: tuple[str, ...] = ()
    # Contact-list roles that always receive this severity's updates (compared
    # case-insensitively with the SharePoint list's Role column).
    notify_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Role:
    key: str
    label: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class OrgSettings:
    severities: tuple[Severity, ...]
    roles: tuple[Role, ...]
    incident_criteria: tuple[str, ...] = field(default_factory=tuple)
    # Contact-list roles told at once about a security incident or data breach.
    security_contact_roles: tuple[str, ...] = field(
        default_factory=lambda: DEFAULT_SECURITY_CONTACT_ROLES)

    def severity(self, key: str) -> Severity | None:
        return next((s for s in self.severities if s.key == key), None)

    def role(self, key: str) -> Role | None:
        return next((r for r in self.roles if r.key == key), None)

    def severity_rank(self, key: str) -> int:
        """0 is the most severe; unknown keys sort last."""
        keys = [s.key for s in self.severities]
        return keys.index(key) if key in keys else len(keys)


P123 = (
    Severity(
        "P1",
        "P1",
        "The whole service is down or unavailable, or a significant security or data breach. "
        "All users are affected.",
        60,
        major=True,
        policies=(
            "Tell programme delivery managers, deputy directors and service owners.",
            "Report as a major incident to the central team after closing.",
            "Update stakeholders at least every hour.",
        ),
        notify_roles=("Programme delivery manager", "Deputy director", "Service owner"),
    ),
    Severity(
        "P2",
        "P2",
        "Part of the service is down or unavailable; some users are affected.",
        120,
        policies=("Update stakeholders every time something changes.",),
    ),
    Severity(
        "P3",
        "P3",
        "Part of the service is degraded; users can still use it.",
        240,
    ),
)

CMMT = (
    Severity(
        "critical",
        "Critical",
        "An outage when the service is expected to be available, or a significant security "
        "or data breach. Takes priority over all other work and continues out of hours.",
        60,
        major=True,
        policies=(
            "Post a notice in the broadcast channel.",
            "Escalate to second-line support at once.",
        ),
    ),
    Severity(
        "major",
        "Major",
        "Major functionality is broken, or a small security or data breach. Dealt with in "
        "working hours above other non-emergency work.",
        60,
        major=True,
        policies=("Post a notice in the broadcast channel.",),
    ),
    Severity(
        "minor",
        "Minor",
        "Minor functionality or internal tools are not working as intended.",
        240,
    ),
    Severity(
        "trivial",
        "Trivial",
        "A retrospective issue, such as a short outage outside the hours the service is relied on.",
        0,
    ),
)

DEFAULT_ROLES = (
    Role("incident_lead", "Incident lead", "Coordinates the response and makes the final call.",
         required=True),
    Role("comms_lead", "Comms lead", "Keeps users and stakeholders informed.", required=True),
    Role("tech_lead", "Tech lead", "Directs the technical fix and briefs the comms lead."),
    Role("support_lead", "Support lead", "Watches support queues and reports changes."),
    Role("scribe", "Scribe", "Keeps the log: events, discussion, decisions, actions, results."),
    Role("investigator", "Investigator", "Owns diagnosis and resolution of the symptoms."),
    Role("incident_commander", "Incident commander",
         "Keeps the incident moving, shields the investigator, runs the command room."),
    Role("client_comms_manager", "Client comms manager", "Keeps affected clients informed."),
)

DEFAULT_CRITERIA = (
    "It was not planned.",
    "It affects users of a service, or the developers and engineers who use our platform.",
    "It degrades a user-facing service or increases risk to production.",
    "It affects security or discloses sensitive data, or causes data loss.",
    "It is still unresolved after an hour of concentrated analysis.",
    "It may have significant financial impact, or needs a second team to fix it.",
)

SCALES = {"p123": P123, "cmmt": CMMT}
# Playbooks 001 and 003: who hears about a security incident or data breach at once.
DEFAULT_SECURITY_CONTACT_ROLES = ("CTO", "Head of Tech Ops", "DPO",
                                  "Data protection officer", "Information Assurance")


def load(scale: str = "p123", path: str | None = None) -> OrgSettings:
    """Seed defaults, or a JSON file with "severities", "roles" and "incident_criteria"."""
    if path:
        return _from_file(Path(path))
    if scale not in SCALES:
        raise ValueError(f"unknown severity scale {scale!r}; use one of {sorted(SCALES)}")
    return OrgSettings(SCALES[scale], DEFAULT_ROLES, DEFAULT_CRITERIA)


def _from_file(path: Path) -> OrgSettings:
    raw = json.loads(path.read_text())
    severities = tuple(
        Severity(
            key=s["key"],
            label=s.get("label", s["key"]),
            description=s.get("description", ""),
            update_every_minutes=int(s.get("update_every_minutes", 60)),
            major=bool(s.get("major", False)),
            policies=tuple(s.get("policies", ())),
            notify_roles=tuple(s.get("notify_roles", ())),
        )
        for s in raw["severities"]
    )
    roles = tuple(
        Role(r["key"], r.get("label", r["key"]), r.get("description", ""),
             bool(r.get("required", False)))
        for r in raw.get("roles", [])
    ) or DEFAULT_ROLES
    if not severities:
        raise ValueError(f"{path}: at least one severity is needed")
    criteria = tuple(raw.get("incident_criteria", DEFAULT_CRITERIA))
    security_roles = tuple(raw.get("security_contact_roles", DEFAULT_SECURITY_CONTACT_ROLES))
    return OrgSettings(severities, roles, criteria, security_roles)
