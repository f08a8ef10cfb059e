"""Graph's JSON shapes for what the sandbox keeps: channels, list items, drive items.

Shared by the HTTP routes and SandboxState's set-up methods, so a channel made by a test's
`add_channel` looks exactly like one made over HTTP.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from graph.sandbox.wire import TENANT_ID, iso

SHAREPOINT = "https://sandbox.sharepoint.example"


def new_channel_id() -> str:
    return f"19:{uuid.uuid4().hex}@thread.tacv2"


def channel(team_id: str, channel_id: str, display_name: str, description: str = "",
            membership_type: str = "standard") -> dict:
    return {
        "id": channel_id, "createdDateTime": iso(), "displayName": display_name,
        "description": description or None, "isFavoriteByDefault": None, "email": "",
        "membershipType": membership_type, "tenantId": TENANT_ID, "isArchived": False,
        "webUrl": (f"https://teams.microsoft.com/l/channel/{quote(channel_id, safe='')}/"
                   f"{quote(display_name, safe='')}?groupId={team_id}&tenantId={TENANT_ID}"),
    }


def etag() -> str:
    return f'"{uuid.uuid4()},1"'


def list_items(site_id: str, list_id: str, first: int, rows: Iterable[dict],
               created: str) -> Iterator[tuple[int, dict]]:
    """listItems as `?$expand=fields` returns them: SharePoint adds its own columns (the
    etag, id, ContentType, Created, Modified, Author/Editor lookups, LinkTitle, ...) to
    the list's, as Graph does. Numbered from `first`."""
    guid = str(uuid.uuid4())[:24]  # each item's GUID: this batch's prefix + its number
    web = f"{SHAREPOINT}/sites/{quote(site_id)}/Lists/{quote(list_id)}/DispForm.aspx?ID="
    parent = {"id": list_id, "siteId": site_id}
    for number, fields in enumerate(rows, start=first):
        tag = f'"{guid}{number:012x},1"'
        full = {"@odata.etag": tag, "id": str(number), "ContentType": "Item",
                "Modified": created, "Created": created, "AuthorLookupId": "6",
                "EditorLookupId": "6", "_UIVersionString": "1.0", "Attachments": False,
                "Edit": "", "ItemChildCount": "0", "FolderChildCount": "0",
                "_ComplianceFlags": "", "_ComplianceTag": "", "_ComplianceTagWrittenTime": "",
                "_ComplianceTagUserId": ""}
        if isinstance(fields.get("Title"), str):
            full["LinkTitleNoMenu"] = full["LinkTitle"] = fields["Title"]
        full.update(fields)
        yield number, {
            "@odata.etag": tag, "id": str(number), "eTag": tag, "createdDateTime": created,
            "lastModifiedDateTime": created, "webUrl": f"{web}{number}",
            "contentType": {"id": "0x0100", "name": "Item"}, "parentReference": parent,
            "fields": full,
        }


def mime_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def new_item_id() -> str:
    return "01" + uuid.uuid4().hex.upper()[:32]


def drive_item(drive_id: str, path: str, size: int, item_id: str, created: str,
               mime: str | None = None) -> dict:
    """A file's driveItem; `path` is relative to the drive's root, e.g. `Reports/a.docx`."""
    folder, _, name = path.rpartition("/")
    tag = uuid.uuid4()
    return {
        "@microsoft.graph.downloadUrl": "",  # filled in per request (it names our host)
        "id": item_id, "name": name, "size": size,
        "createdDateTime": created, "lastModifiedDateTime": iso(),
        "eTag": f'"{{{str(tag).upper()}}},1"', "cTag": f'"c:{{{str(tag).upper()}}},1"',
        "webUrl": f"{SHAREPOINT}/{quote(drive_id)}/{quote(path)}",
        "file": {"mimeType": mime or mime_type(name)},
        "parentReference": {"driveId": drive_id, "driveType": "documentLibrary",
                            "path": f"/drives/{drive_id}/root:" + (f"/{folder}" if folder
                                                                   else "")},
    }


def folder_item(drive_id: str, path: str, child_count: int) -> dict:
    folder, _, name = path.rpartition("/")
    return {
        "id": "01F" + uuid.uuid5(uuid.NAMESPACE_URL, f"{drive_id}/{path.lower()}").hex
        .upper()[:31],
        "name": name or "root", "size": 0, "createdDateTime": iso(),
        "lastModifiedDateTime": iso(), "folder": {"childCount": child_count},
        "webUrl": f"{SHAREPOINT}/{quote(drive_id)}/{quote(path)}",
        "parentReference": {"driveId": drive_id, "driveType": "documentLibrary",
                            "path": f"/drives/{drive_id}/root:" + (f"/{folder}" if folder
                                                                   else "")},
    }
