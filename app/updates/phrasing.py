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

# The starting wording of each phase when administrators have retired every saved
# template for it (app/updates/templates.py; migration 0029 seeds the same words).
# Placeholders are filled by templates.render, never str.format.
TEMPLATES = {
    "investigating": (
        "We are investigating reports that {services} {problem}. "
        "{impact} We will update you {next_update}."
    ),
    "identified": (
        "We have identified the cause of the problem with {services} and are working on a "
        "fix. {impact} We will update you {next_update}."
    ),
    "monitoring": (
        "A fix has been put in place for the problem with {services}. We are monitoring to "
        "make sure it holds. We will update you {next_update}."
    ),
    "resolved": (
        "The problem with {services} has been resolved. Users should no longer be "
        "affected. Thank you for your patience."
    ),
}
