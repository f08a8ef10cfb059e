"""The Teams app package (issue 16): its manifest against Microsoft's schema and limits, the
icons' sizes, the .zip, the administrators' page and `flask teams-app`."""

from __future__ import annotations

import io
import json
import re
import struct
import uuid
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from app.m365.graph_setup import BUILT_IN, MICROSOFT
from app.teams_app import manifest as teams_manifest
from app.teams_app.identity import NotReady, identity_from
from app.teams_app.manifest import AppIdentity, build
from app.teams_app.package import ICONS, package_bytes
from graph.sandbox.seed import BOT_APP_ID as SANDBOX_BOT_APP_ID

SCHEMA = json.loads((Path(__file__).parent / "data" / "teams" / "MicrosoftTeams.schema.json")
                    .read_text())
BOT_ID = "0f4c8e9a-3b6d-4c1e-8a2f-7d5e6c4b3a21"
IDENTITY = AppIdentity(base_url="https://incidents.example.org", bot_app_id=BOT_ID,
                       entra_app_id="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                       tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47",
                       organisation_name="Example Agency")


# --- a strict draft-04 reader for Microsoft's schema --------------------------------------
# jsonschema is not among the project's dependencies; this covers every keyword the
# vendored schema uses and fails on any other, so it can never pass by skipping one.
ANNOTATIONS = {"description", "default", "format", "$schema", "definitions", "title",
               "examples", "deprecationMessage", "markdownDescription", "id"}


def _resolve(ref: str) -> dict:
    assert ref.startswith("#/"), ref
    node = SCHEMA
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _type_ok(value, kind: str) -> bool:
    return {"object": isinstance(value, dict), "array": isinstance(value, list),
            "string": isinstance(value, str), "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "null": value is None}[kind]


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    errors: list[str] = []
    for key, rule in schema.items():
        if key in ANNOTATIONS:
            continue
        if key == "$ref":
            errors += schema_errors(value, _resolve(rule), where)
        elif key == "type":
            kinds = rule if isinstance(rule, list) else [rule]
            if not any(_type_ok(value, k) for k in kinds):
                errors.append(f"{where}: not {rule}")
        elif key == "enum":
            if value not in rule:
                errors.append(f"{where}: {value!r} not one of {rule}")
        elif key == "const":
            if value != rule:
                errors.append(f"{where}: {value!r} is not {rule!r}")
        elif key in ("maxLength", "minLength", "pattern"):
            if isinstance(value, str):
                if key == "maxLength" and len(value) > rule:
                    errors.append(f"{where}: longer than {rule}")
                if key == "minLength" and len(value) < rule:
                    errors.append(f"{where}: shorter than {rule}")
                if key == "pattern" and not re.search(rule, value):
                    errors.append(f"{where}: {value!r} does not match {rule}")
        elif key in ("minimum", "maximum"):
            if _type_ok(value, "number") and (value < rule if key == "minimum"
                                              else value > rule):
                errors.append(f"{where}: {key} {rule}")
        elif key in ("maxItems", "minItems", "uniqueItems", "items"):
            if isinstance(value, list):
                if key == "maxItems" and len(value) > rule:
                    errors.append(f"{where}: more than {rule} items")
                if key == "minItems" and len(value) < rule:
                    errors.append(f"{where}: fewer than {rule} items")
                if key == "uniqueItems" and rule:
                    seen = [json.dumps(v, sort_keys=True) for v in value]
                    if len(set(seen)) != len(seen):
                        errors.append(f"{where}: items repeat")
                if key == "items":
                    for i, item in enumerate(value):
                        errors += schema_errors(item, rule, f"{where}[{i}]")
        elif key in ("properties", "additionalProperties", "required", "minProperties",
                     "dependencies"):
            if isinstance(value, dict):
                errors += _object_errors(value, schema, key, rule, where)
        elif key in ("anyOf", "oneOf"):
            passing = sum(not schema_errors(value, option, where) for option in rule)
            if passing == 0 or (key == "oneOf" and passing > 1):
                errors.append(f"{where}: {passing} of {key} match")
        elif key == "if":
            if not schema_errors(value, rule, where) and "then" in schema:
                errors += schema_errors(value, schema["then"], where)
        elif key in ("then",):
            continue  # read with "if"
        else:
            raise AssertionError(f"{where}: schema keyword {key!r} is not understood")
    return errors


def _object_errors(value: dict, schema: dict, key: str, rule, where: str) -> list[str]:
    errors = []
    if key == "properties":
        for name, sub in rule.items():
            if name in value:
                errors += schema_errors(value[name], sub, f"{where}.{name}")
    elif key == "additionalProperties":
        extra = [k for k in value if k not in schema.get("properties", {})]
        if rule is False and extra:
            errors.append(f"{where}: unexpected {extra}")
        elif isinstance(rule, dict):
            for name in extra:
                errors += schema_errors(value[name], rule, f"{where}.{name}")
    elif key == "required":
        errors += [f"{where}: {name} missing" for name in rule if name not in value]
    elif key == "minProperties" and len(value) < rule:
        errors.append(f"{where}: fewer than {rule} properties")
    elif key == "dependencies":
        for name, needs in rule.items():
            if name in value:
                if isinstance(needs, list):
                    errors += [f"{where}: {name} needs {n}" for n in needs if n not in value]
                else:
                    errors += schema_errors(value, needs, where)
    return errors


def test_the_schema_reader_catches_what_the_schema_forbids():
    manifest = build(IDENTITY)
    assert schema_errors(manifest, SCHEMA) == []
    broken = json.loads(json.dumps(manifest))
    broken["name"]["short"] = "x" * 31
    broken["id"] = "not-a-guid"
    broken["bots"][0]["scopes"].append("everywhere")
    del broken["developer"]["privacyUrl"]
    broken["surprise"] = True
    errors = schema_errors(broken, SCHEMA)
    assert any("name.short: longer than 30" in e for e in errors)
    assert any("$.id" in e and "does not match" in e for e in errors)
    assert any("scopes[3]" in e for e in errors)
    assert any("privacyUrl missing" in e for e in errors)
    assert any("unexpected ['surprise']" in e for e in errors)


# --- the manifest ---------------------------------------------------------------------------

def test_manifest_matches_microsofts_schema():
    manifest = build(IDENTITY)
    assert manifest["manifestVersion"] == SCHEMA["properties"]["manifestVersion"]["const"]
    assert manifest["$schema"].endswith(f"/v{manifest['manifestVersion']}/"
                                        "MicrosoftTeams.schema.json")
    assert schema_errors(manifest, SCHEMA) == []


def test_manifest_within_microsofts_limits():
    manifest = build(IDENTITY)
    for field in SCHEMA["required"]:
        assert field in manifest
    assert len(manifest["name"]["short"]) <= 30
    assert len(manifest["name"]["full"]) <= 100
    assert len(manifest["description"]["short"]) <= 80
    assert len(manifest["description"]["full"]) <= 4000
    assert len(manifest["developer"]["name"]) <= 32
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest["accentColor"])
    bot = manifest["bots"][0]
    assert set(bot["scopes"]) == {"team", "personal", "groupChat"}
    assert {tuple(c["scopes"]) for c in bot["commandLists"]} == {("team",), ("personal",)}
    for command_list in bot["commandLists"]:
        commands = command_list["commands"]
        assert 1 <= len(commands) <= 10  # Microsoft: each menu supports up to 10 commands
        titles = [c["title"] for c in commands]
        assert len(set(titles)) == len(titles)
        for command in commands:
            assert 1 <= len(command["title"]) <= 32
            assert len(command["description"]) <= 128


def test_team_commands_mirror_the_playbook():
    lists = {c["scopes"][0]: [x["title"] for x in c["commands"]]
             for c in build(IDENTITY)["bots"][0]["commandLists"]}
    assert lists["team"] == ["declare", "status", "update", "lead me", "note", "help"]
    assert lists["personal"] == ["declare", "status", "help"]


def test_addresses_are_the_installations_own():
    manifest = build(replace(IDENTITY, base_url="https://desk.example.org:8443/"))
    assert manifest["validDomains"] == ["desk.example.org"]
    for domain in manifest["validDomains"]:
        assert "://" not in domain and "/" not in domain
    developer = manifest["developer"]
    assert developer["websiteUrl"] == "https://desk.example.org:8443"
    assert developer["privacyUrl"] == "https://desk.example.org:8443/teams-app/privacy"
    assert developer["termsOfUseUrl"] == "https://desk.example.org:8443/teams-app/terms"
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["webApplicationInfo"]["id"] == IDENTITY.entra_app_id
    assert manifest["webApplicationInfo"]["resource"] == \
        f"api://desk.example.org/{IDENTITY.entra_app_id}"


def test_only_team_scoped_permissions_each_with_a_reason():
    manifest = build(IDENTITY)
    granted = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert [p["name"] for p in granted] == [
        "ChannelMessage.Read.Group", "TeamMember.Read.Group", "ChannelMember.ReadWrite.Group",
        "TeamsAppInstallation.Read.Group", "TeamsTab.Read.Group", "TeamsTab.Create.Group",
        "TeamsActivity.Send.User"]
    # Granted for the incidents team by the owner who adds the app, or (the activity
    # feed) by each person who adds it for themselves: never tenant-wide.
    assert all(p["type"] == "Application" and p["name"].endswith((".Group", ".User"))
               for p in granted)
    assert all(p.why for p in teams_manifest.RSC_PERMISSIONS)


def test_app_id_is_stable_per_installation():
    first, again = build(IDENTITY), build(replace(IDENTITY, organisation_name="Renamed"))
    assert first["id"] == again["id"] == str(uuid.UUID(first["id"]))
    assert build(replace(IDENTITY, base_url="https://incidents.example.org/"))["id"] == \
        first["id"]
    assert build(replace(IDENTITY, base_url="https://other.example.org"))["id"] != first["id"]
    assert build(replace(IDENTITY, tenant_id="00000000-0000-4000-8000-000000000001"))["id"] != \
        first["id"]


def test_version_changes_with_the_manifest(monkeypatch):
    first = build(IDENTITY)
    assert build(IDENTITY)["version"] == first["version"]
    assert re.fullmatch(SCHEMA["definitions"]["semver"]["pattern"], first["version"])
    assert first["version"].startswith(f"1.{teams_manifest.REVISION}.")
    moved = build(replace(IDENTITY, bot_app_id="11111111-2222-4333-8444-555555555555"))
    assert moved["version"] != first["version"]
    monkeypatch.setattr(teams_manifest, "TEAM_COMMANDS", teams_manifest.TEAM_COMMANDS[:-1])
    assert build(IDENTITY)["version"] != first["version"]


# --- icons and the package ------------------------------------------------------------------

def png_header(data: bytes) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type, from the IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def rgba_pixels(data: bytes) -> list[tuple[int, int, int, int]]:
    """Every pixel of an 8-bit RGBA, non-interlaced PNG with filter 0 rows (ours)."""
    width, height, _, _ = png_header(data)
    offset, idat = 8, b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 4 + 1
    pixels = []
    for y in range(height):
        row = raw[y * stride:(y + 1) * stride]
        assert row[0] == 0
        pixels += [tuple(row[1 + x * 4:5 + x * 4]) for x in range(width)]
    return pixels


def test_icons_are_the_sizes_teams_asks_for():
    color = (ICONS / "color.png").read_bytes()
    outline = (ICONS / "outline.png").read_bytes()
    assert png_header(color) == (192, 192, 8, 6)
    assert png_header(outline) == (32, 32, 8, 6)
    # outline: only white, on transparent
    pixels = rgba_pixels(outline)
    assert all(a == 0 or (r, g, b) == (255, 255, 255) for r, g, b, a in pixels)
    assert any(a == 0 for *_, a in pixels) and any(a == 255 for *_, a in pixels)
    # colour: opaque all over
    assert all(a == 255 for *_, a in rgba_pixels(color))


def test_package_holds_manifest_and_icons_at_its_top_level():
    data = package_bytes(IDENTITY)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert json.loads(archive.read("manifest.json")) == build(IDENTITY)
        assert archive.read("color.png") == (ICONS / "color.png").read_bytes()
        assert archive.read("outline.png") == (ICONS / "outline.png").read_bytes()
    assert package_bytes(IDENTITY) == data  # the same manifest, the same bytes


# --- from the settings ----------------------------------------------------------------------

def test_sandbox_uses_the_sandbox_bot(settings):
    identity = identity_from(replace(settings, bot_app_id=None, bot_tenant_id=None),
                             built_in_sandbox=True)
    assert identity.bot_app_id == SANDBOX_BOT_APP_ID
    assert identity.entra_app_id == SANDBOX_BOT_APP_ID
    assert schema_errors(build(identity), SCHEMA) == []


def test_a_real_tenant_needs_the_bots_app_id(settings):
    with pytest.raises(NotReady, match="BOT_APP_ID"):
        identity_from(replace(settings, bot_tenant_id=IDENTITY.tenant_id, bot_app_id=None),
                      built_in_sandbox=False)
    identity = identity_from(replace(settings, bot_tenant_id=IDENTITY.tenant_id,
                                     bot_app_id=BOT_ID), built_in_sandbox=False)
    assert identity.bot_app_id == BOT_ID and identity.tenant_id == IDENTITY.tenant_id


def test_the_sandbox_bot_is_never_named_outside_the_built_in_sandbox(settings):
    """As app/bot: with a real tenant or Graph and no BOT_* settings nobody's bot is trusted,
    so no package names the sandbox's."""
    unset = replace(settings, bot_app_id=None, bot_tenant_id=None)
    with pytest.raises(NotReady, match="BOT_TENANT_ID"):
        identity_from(unset, built_in_sandbox=False)
    with pytest.raises(NotReady, match="BOT_TENANT_ID"):
        identity_from(replace(unset, entra_tenant_id=IDENTITY.tenant_id,
                              entra_client_id=IDENTITY.entra_app_id,
                              entra_client_secret="s3cret"),
                      built_in_sandbox=True)


def test_bot_turned_off_is_said(settings):
    with pytest.raises(NotReady, match="BOT_ENABLED"):
        identity_from(replace(settings, bot_enabled=False), built_in_sandbox=True)


# --- the page and the CLI -------------------------------------------------------------------

@pytest.fixture
def app(app):
    """The test app as on a laptop: Microsoft 365 is the built-in sandbox, so its bot."""
    app.extensions["graph_setup"] = replace(app.extensions["graph_setup"], kind=BUILT_IN)
    return app


def test_admin_page_offers_the_package(browser):
    browser.sign_in(admin=True)
    page = browser.get("/admin/teams-app")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Upload an app" in html and "Add to a team" in html
    assert "ChannelMessage.Read.Group" in html and "resource-specific consent" in html
    assert 'href="/admin/teams-app/package.zip"' in html
    assert "Teams only opens https://" in html  # the test address is http
    assert 'href="/admin/teams-app"' in browser.get("/incidents").get_data(as_text=True)
    download = browser.get("/admin/teams-app/package.zip")
    assert download.status_code == 200
    assert download.mimetype == "application/zip"
    assert "attachment" in download.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["validDomains"] == ["incident-desk.test"]
    assert manifest["bots"][0]["botId"] == SANDBOX_BOT_APP_ID


def test_not_for_people_who_are_not_administrators(browser):
    browser.sign_in()
    assert browser.get("/admin/teams-app").status_code == 403
    assert browser.get("/admin/teams-app/package.zip").status_code == 403
    assert 'href="/admin/teams-app"' not in browser.get("/incidents").get_data(as_text=True)


def test_signed_out_people_are_sent_to_sign_in(app):
    client = app.test_client()
    assert client.get("/admin/teams-app").status_code in (302, 401)
    assert client.get("/admin/teams-app/package.zip").status_code in (302, 401)


def test_page_says_what_is_missing(app, browser):
    app.extensions["graph_setup"] = replace(app.extensions["graph_setup"], kind=MICROSOFT)
    browser.sign_in(admin=True)
    html = browser.get("/admin/teams-app").get_data(as_text=True)
    assert "The package cannot be built yet" in html and "BOT_TENANT_ID" in html
    assert "package.zip" not in html
    assert browser.get("/admin/teams-app/package.zip").status_code == 404


def test_privacy_and_terms_pages_are_public(app):
    client = app.test_client()
    assert "Privacy" in client.get("/teams-app/privacy").get_data(as_text=True)
    assert "Terms of use" in client.get("/teams-app/terms").get_data(as_text=True)


def test_cli_writes_the_package(app, tmp_path):
    out = tmp_path / "teams.zip"
    result = app.test_cli_runner().invoke(args=["teams-app", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert schema_errors(json.loads(archive.read("manifest.json")), SCHEMA) == []


def test_cli_says_what_is_missing(app, tmp_path):
    app.extensions["settings"] = replace(app.extensions["settings"],
                                         bot_tenant_id=IDENTITY.tenant_id, bot_app_id=None)
    out = tmp_path / "teams.zip"
    result = app.test_cli_runner().invoke(args=["teams-app", "--out", str(out)])
    assert result.exit_code == 1
    assert "BOT_APP_ID" in result.output and "Traceback" not in result.output
    assert not out.exists()
