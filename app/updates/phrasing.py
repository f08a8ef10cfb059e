"""Starting words for each phase of an update, in the plain style the playbooks ask for
(what is happening, who is affected, what we are doing, when we will update next)."""

from __future__ import annotations

PHASES = ("investigating", "identified", "monitoring", "resolved")

PHASE_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}

TEMPLATES = {
    "investigating": (
        "We are investigating reports that {services} {problem}. "
        "Some users may be affected. We will update you by {next_update}."
    ),
    "identified": (
        "We have identified the cause of the problem with {services} and are working on a "
        "fix. We will update you by {next_update}."
    ),
    "monitoring": (
        "A fix has been put in place for the problem with {services}. We are monitoring to "
        "make sure it holds. We will update you by {next_update}."
    ),
    "resolved": (
        "The problem with {services} has been resolved. Users should no longer be "
        "affected. Thank you for your patience."
    ),
}


def starting_text(phase: str, services: str, problem: str, next_update: str) -> str:
    return TEMPLATES[phase].format(services=services or "the service",
                                   problem=problem or "is not working as expected",
                                   next_update=next_update)
