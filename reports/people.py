"""Who did what: people's names, or for a blameless draft the role they held at the time.

A review draft is circulated before the meeting and should not read as blame, so its
timeline says "the incident lead" rather than a name; the public version names nobody.
Names are also taken out of free text (the app writes "Ada Lovelace is now incident
lead"), matched as whole words: full names in any case, given names as written.
Limitation: a name the snapshot does not know (someone never given a role, nor the author
of anything) cannot be recognised.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from enum import Enum

from reports.snapshot import IncidentSnapshot, RoleSpell, TimelineItem
from reports.text import label

RESPONDER = "a responder"
OUR_TEAM = "a member of our team"


class Mode(Enum):
    NAMED = "named"
    BLAMELESS = "blameless"  # roles instead of names
    PUBLIC = "public"  # nobody at all


def _lower_first(text: str) -> str:
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class Namer:
    def __init__(self, snapshot: IncidentSnapshot, mode: Mode = Mode.NAMED) -> None:
        self.mode = mode
        self._spells: dict[str, list[RoleSpell]] = defaultdict(list)
        self._role_labels: dict[str, str] = {}
        for spell in sorted(snapshot.roles, key=lambda r: r.assigned_at):
            self._spells[spell.person.strip().casefold()].append(spell)
            if spell.key:
                self._role_labels[spell.key] = spell.role
        people = sorted(snapshot.people(), key=len, reverse=True)
        self._by_name = {p.casefold(): p for p in people}
        given: dict[str, set[str]] = defaultdict(set)
        for person in people:
            first = person.split()[0]
            if len(first) >= 3 and first != person:
                given[first].add(person)
        self._given = {g: next(iter(p)) if len(p) == 1 else None for g, p in given.items()}
        full = "|".join(re.escape(p) for p in people)
        first = "|".join(re.escape(g) for g in sorted(given, key=len, reverse=True))
        self._full = re.compile(rf"(?<!\w)(?:{full})(?!\w)", re.IGNORECASE) if full else None
        self._first = re.compile(rf"(?<!\w)(?:{first})(?!\w)") if first else None

    def roles_at(self, person: str, when: datetime) -> list[str]:
        spells = self._spells.get(person.strip().casefold(), [])
        return list(dict.fromkeys(s.role for s in spells if s.held_at(when)))

    def _stand_in(self, person: str | None, when: datetime | None) -> str:
        """How a person is referred to in running text when names are left out."""
        if self.mode is Mode.PUBLIC or person is None:
            return OUR_TEAM if self.mode is Mode.PUBLIC else RESPONDER
        roles = self.roles_at(person, when) if when else []
        if not roles:
            return RESPONDER
        words = [_lower_first(r) for r in roles]
        return "the " + (words[0] if len(words) == 1 else
                         ", ".join(words[:-1]) + " and " + words[-1])

    def who(self, person: str | None, when: datetime | None) -> str:
        """For a "Who" column: the name, or the role(s) held at that time."""
        if not person:
            return ""
        if self.mode is Mode.NAMED:
            return person
        return _upper_first(self._stand_in(person, when).removeprefix("the "))

    def scrub(self, text: str, when: datetime | None = None) -> str:
        """Free text with known names replaced (unchanged when names are shown)."""
        if self.mode is Mode.NAMED or not text:
            return text

        def swap(person: str | None, match: re.Match) -> str:
            stand_in = self._stand_in(person, when)
            at_start = match.start() == 0 or text[:match.start()].rstrip().endswith((".", "!", "?"))
            return _upper_first(stand_in) if at_start else stand_in

        if self._full:
            text = self._full.sub(lambda m: swap(self._by_name[m.group(0).casefold()], m), text)
        if self._first:
            text = self._first.sub(lambda m: swap(self._given[m.group(0)], m), text)
        return text

    def timeline_text(self, item: TimelineItem) -> str:
        """What happened; a role handover is restated without names when they are hidden."""
        role = item.data.get("role") if item.kind == "role_assigned" else None
        if self.mode is not Mode.NAMED and isinstance(role, str) and role:
            name = self._role_labels.get(role) or label(role)
            verb = "handed over" if item.data.get("previous_user_id") else "assigned"
            return f"{name} role {verb}"
        return self.scrub(item.text, item.occurred_at)
