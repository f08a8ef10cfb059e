"""The .zip Teams takes: manifest.json and the two icons at its top level."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from app.teams_app.manifest import COLOR_ICON, OUTLINE_ICON, AppIdentity, build

ICONS = Path(__file__).resolve().parent / "icons"
# A fixed timestamp: the same manifest gives byte-for-byte the same package.
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def _entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def package_bytes(identity: AppIdentity) -> bytes:
    manifest = build(identity)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _entry(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
        _entry(archive, COLOR_ICON, (ICONS / COLOR_ICON).read_bytes())
        _entry(archive, OUTLINE_ICON, (ICONS / OUTLINE_ICON).read_bytes())
    return buffer.getvalue()


def file_name(identity: AppIdentity) -> str:
    return f"incident-desk-teams-app-{build(identity)['version']}.zip"
