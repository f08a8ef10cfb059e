"""Turning a SharePoint list item's fields into a contact.

Column names are SharePoint internal names; organisations whose list differs set
M365_CONTACTS_FIELDS, e.g. "name=Title,email=EmailAddress,service=Service".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

DEFAULT_FIELDS = {"name": "Title", "email": "Email", "service": "Service", "role": "Role",
                  "severities": "Severities"}


MAX_SHOWN = 80  # characters of a bad value repeated back on the contacts page
MAX_EMAIL = 320  # the longest address there can be; longer is not read any further


@dataclass(frozen=True)
class ContactRow:
    item_id: str
    name: str  # "" when the row has none: the person's other rows may name them
    email: str  # lowercased: one address is one person, however the list spells it
    service: str
    role: str
    severities: tuple[str, ...]


@dataclass(frozen=True)
class SkippedRow:
    """A row that could not be read, and why: shown on the contacts page to be fixed."""

    item_id: str
    name: str
    problem: str
    value: str = ""  # what the row has instead of a usable address, cut to MAX_SHOWN

    def as_dict(self) -> dict:
        return {"item_id": self.item_id, "name": self.name, "problem": self.problem,
                "value": self.value}


def parse_field_map(text: str | None) -> dict[str, str]:
    mapping = dict(DEFAULT_FIELDS)
    for part in (text or "").split(","):
        key, _, column = part.partition("=")
        if key.strip() in DEFAULT_FIELDS and column.strip():
            mapping[key.strip()] = column.strip()
    return mapping


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):  # lookup / person columns
        value = value.get("LookupValue") or value.get("Email") or value.get("Title") or ""
    return " ".join(str(value).split())


def _many(value) -> tuple[str, ...]:
    """Choice columns arrive as lists; plain text as "P1, P2" or "P1;P2"."""
    items = value if isinstance(value, list) else re.split(r"[,;]", _text(value))
    return tuple(dict.fromkeys(_text(v) for v in items if _text(v)))


def _shown(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "…"


def _email(raw: str) -> tuple[str, str]:
    """(the address lowercased, as Microsoft 365 ignores its case, ""), or ("", why it
    cannot be used)."""
    if not raw:
        return "", "No email address"
    if len(raw) > MAX_EMAIL:
        return "", f"Email address too long ({len(raw):,} characters)"
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower(), ""
    except EmailNotValidError as error:
        return "", f"Email address not valid: {_shown(str(error))}"


def to_contact(item_id: str, fields: dict, mapping: dict[str, str]) -> ContactRow | SkippedRow:
    """A contact, or the reason the row was skipped (it has no usable email address).

    A row with an email but no name is kept, not skipped: the person must still hear
    about incidents, and is shown by their address until the list names them."""
    name = _text(fields.get(mapping["name"]))[:200]
    raw = _text(fields.get(mapping["email"]))
    email, problem = _email(raw)
    if problem:
        return SkippedRow(item_id=str(item_id)[:100], name=_shown(name), problem=problem,
                          value=_shown(raw))
    return ContactRow(
        item_id=str(item_id)[:100],
        name=name,
        email=email,
        service=_text(fields.get(mapping["service"]))[:120],
        role=_text(fields.get(mapping["role"]))[:120],
        severities=_many(fields.get(mapping["severities"])),
    )
