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


@dataclass(frozen=True)
class ContactRow:
    item_id: str
    name: str
    email: str
    service: str
    role: str
    severities: tuple[str, ...]


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


def to_contact(item_id: str, fields: dict, mapping: dict[str, str]) -> ContactRow | None:
    """A contact, or None if the row has no usable email address."""
    raw_email = _text(fields.get(mapping["email"]))
    try:
        email = validate_email(raw_email, check_deliverability=False).normalized
    except EmailNotValidError:
        return None
    return ContactRow(
        item_id=item_id,
        name=_text(fields.get(mapping["name"]))[:200] or email,
        email=email,
        service=_text(fields.get(mapping["service"]))[:120],
        role=_text(fields.get(mapping["role"]))[:120],
        severities=_many(fields.get(mapping["severities"])),
    )
