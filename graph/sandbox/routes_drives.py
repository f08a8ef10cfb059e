"""Drives: simple upload, upload sessions, download, metadata; items addressed by path
(`root:/folder/name.docx:`) or by id.

- `PUT .../root:/{path}:/content`: up to 4 MB (more: 413, use a session); 201 new, 200
  replaced. `?@microsoft.graph.conflictBehavior=fail` on an existing file: 409
  nameAlreadyExists; `rename` picks "name 1.ext"; `replace` (the default for PUT).
- `POST .../root:/{path}:/createUploadSession`: 200 {uploadUrl, expirationDateTime,
  nextExpectedRanges}; the uploadUrl is on this server outside /v1.0 and needs no
  Authorization header, like Graph's. Fragments are PUT there with Content-Range: 202 with
  nextExpectedRanges until the last, then 201/200 and the driveItem. A fragment that does
  not start where the last ended: 416 invalidRange ("Uploaded fragment overlaps with
  existing data." / "Uploaded fragment is out of order."). An unknown or finished session:
  404 itemNotFound.
- A file open for editing (`graph.sandbox.locks.lock_file`): PUT content and the last
  fragment of an upload session answer 423 notAllowed (inner code resourceLocked).
- `GET .../content`: 302 Found to a pre-authenticated download URL on this server (as
  Graph does); kiota's RedirectHandler and `requests` follow it.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import quote

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from graph.port import SIMPLE_UPLOAD_LIMIT
from graph.sandbox import permissions, shapes
from graph.sandbox.locks import refuse_if_locked
from graph.sandbox.state import file_key, store_file
from graph.sandbox.wire import (
    ApiError,
    Ctx,
    empty_response,
    iso,
    json_response,
    utc_now,
)

MAX_FRAGMENT = 60 * 1024 * 1024
CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$")
SANDBOX_KEYS = ("drive_id", "path", "mimeType", "via", "upload_session", "actor")


def _drive(tx, drive: str) -> dict:
    found = tx.get("drive", drive)
    if found is None:
        raise ApiError(404, "itemNotFound", "The provided drive id does not represent a "
                                            "valid drive.")
    return found


def _not_found() -> ApiError:
    return ApiError(404, "itemNotFound", "The resource could not be found.")


def _address(rest: str) -> tuple[str, str, str]:
    """("path" | "id" | "root", path or id, action) from what follows /drives/{id}/."""
    by_items = rest.startswith("items/")
    if by_items:
        rest = rest[len("items/"):]
    if rest.startswith("root:"):
        inner = rest[len("root:"):]
        if ":/" in inner:
            path, action = inner.rsplit(":/", 1)
        else:
            path, action = inner.removesuffix(":"), ""
        return "path", path.strip("/"), action
    if rest == "root" or rest.startswith("root/"):
        return "root", "", rest[len("root/"):] if rest.startswith("root/") else ""
    if by_items and rest:
        item_id, _, action = rest.partition("/")
        return "id", item_id, action
    raise ApiError(400, "BadRequest",
                   f"Resource not found for the segment '{rest.split('/')[0]}'.")


def public(ctx: Ctx, record: dict) -> dict:
    item = {k: v for k, v in record.items() if k not in SANDBOX_KEYS}
    item["@microsoft.graph.downloadUrl"] = _download_url(ctx, record["drive_id"],
                                                         record["path"])
    return {"@odata.context": f"{ctx.graph_url}/$metadata#drives('{record['drive_id']}')/"
                              "items/$entity", **item}


def _download_url(ctx: Ctx, drive: str, path: str) -> str:
    return f"{ctx.base_url}/_download/{quote(drive, safe='')}/{quote(path)}"


def _by_id(tx, drive: str, item_id: str) -> dict | None:
    row = tx.conn.execute("SELECT body FROM docs WHERE kind = 'file' AND scope = ? AND "
                          "json_extract(body, '$.id') = ?", (drive, item_id)).fetchone()
    return json.loads(row[0]) if row else None


def _free_name(tx, drive: str, path: str) -> str:
    folder, _, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    for number in range(1, 10_000):
        candidate = f"{stem} {number}{dot}{extension}"
        full = f"{folder}/{candidate}" if folder else candidate
        if tx.get("file", file_key(drive, full)) is None:
            return full
    raise ApiError(409, "nameAlreadyExists", "No free name for the item.")


def _place(tx, drive: str, path: str, behaviour: str) -> str:
    """Where a new upload lands under the conflict behaviour (or a 409)."""
    if behaviour not in ("fail", "replace", "rename"):
        raise ApiError(400, "invalidRequest", f"Invalid conflict behavior '{behaviour}'.")
    if not path or path.endswith("/"):
        raise ApiError(400, "invalidRequest", "A file name is required.")
    if tx.get("file", file_key(drive, path)) is None:
        return path
    if behaviour == "fail":
        raise ApiError(409, "nameAlreadyExists", "An item with the same name already exists.")
    return _free_name(tx, drive, path) if behaviour == "rename" else path


@permissions.requires(permissions.READ_DRIVE_ITEM)
@permissions.requires(permissions.WRITE_DRIVE_ITEM, methods=("PUT", "POST", "DELETE", "PATCH"))
def drive_item(ctx: Ctx, drive: str, rest: str):
    """Every /drives/{drive}/... request: parse the address, then act."""
    kind, target, action = _address(rest)
    method = ctx.request.method
    if action == "content" and method == "PUT":
        return _put_content(ctx, drive, kind, target)
    if action == "content" and method == "GET":
        return _get_content(ctx, drive, kind, target)
    if action == "createUploadSession" and method == "POST":
        if kind != "path":
            raise ApiError(400, "invalidRequest", "Address the new file by path.")
        return _create_session(ctx, drive, target)
    if action == "" and method == "GET":
        return _metadata(ctx, drive, kind, target)
    if action in ("", "content", "createUploadSession"):
        raise ApiError(405, "BadRequest", "Specified HTTP method is not allowed for the "
                                          "request target.")
    raise ApiError(400, "BadRequest", f"Resource not found for the segment '{action}'.")


def _put_content(ctx: Ctx, drive: str, kind: str, target: str):
    data = ctx.request.get_data()
    if len(data) > SIMPLE_UPLOAD_LIMIT:
        raise ApiError(413, "requestEntityTooLarge", "The request is larger than 4 MB: upload "
                                                     "it through an upload session.")
    behaviour = ctx.arg("@microsoft.graph.conflictBehavior", "replace")
    with ctx.state.tx() as tx:
        _drive(tx, drive)
        if kind == "id":
            existing = _by_id(tx, drive, target)
            if existing is None:
                raise _not_found()
            path = existing["path"]
        elif kind == "path":
            path = _place(tx, drive, target, behaviour)
        else:
            raise ApiError(400, "invalidRequest", "Cannot write content to a folder.")
        refuse_if_locked(tx, drive, path)  # 423 while open in Word: graph/sandbox/locks.py
        record, created = store_file(tx, drive, path, data, None, via="simple",
                                     actor=ctx.actor)
    return json_response(public(ctx, record), 201 if created else 200)


def _get_content(ctx: Ctx, drive: str, kind: str, target: str):
    with ctx.state.read() as tx:
        _drive(tx, drive)
        record = _by_id(tx, drive, target) if kind == "id" else \
            tx.get("file", file_key(drive, target)) if kind == "path" else None
    if record is None:
        raise _not_found()
    return Response(b"", status=302,
                    headers={"Location": _download_url(ctx, drive, record["path"])})


def _metadata(ctx: Ctx, drive: str, kind: str, target: str):
    with ctx.state.read() as tx:
        _drive(tx, drive)
        if kind == "id":
            record = _by_id(tx, drive, target)
        else:
            record = tx.get("file", file_key(drive, target)) if target else None
        if record is not None:
            return json_response(public(ctx, record))
        if kind == "id":
            raise _not_found()
        prefix = f"{target.lower()}/" if target else ""
        children = {f["path"][len(prefix):].split("/")[0]
                    for f in tx.bodies("file", scope=drive)
                    if f["path"].lower().startswith(prefix)}
    if target and not children:
        raise _not_found()
    return json_response(shapes.folder_item(drive, target, len(children)))


def _create_session(ctx: Ctx, drive: str, path: str):
    body = ctx.body()
    item = body.get("item") if isinstance(body.get("item"), dict) else {}
    behaviour = item.get("@microsoft.graph.conflictBehavior") or \
        ctx.arg("@microsoft.graph.conflictBehavior") or "replace"
    if body.get("deferCommit"):
        raise ApiError(400, "invalidRequest", "The sandbox does not support deferCommit.")
    expires = iso(utc_now() + timedelta(days=1))
    with ctx.state.tx() as tx:
        _drive(tx, drive)
        _place(tx, drive, path, behaviour)  # fail fast on a clash under "fail"
        session_id = f"{tx.next_number('upload')}-{shapes.new_item_id()}"
        tx.put("upload", session_id, {
            "id": session_id, "drive_id": drive, "path": path, "behaviour": behaviour,
            "received": 0, "total": None, "expires": expires, "actor": ctx.actor})
    return json_response({
        "@odata.context": f"{ctx.graph_url}/$metadata#microsoft.graph.uploadSession",
        "uploadUrl": f"{ctx.base_url}/_upload/{session_id}",
        "expirationDateTime": expires, "nextExpectedRanges": ["0-"]})


# ---- upload URLs (no Authorization, like Graph's) ------------------------------------


def _session(tx, session_id: str) -> dict:
    session = tx.get("upload", session_id)
    if session is None:
        raise ApiError(404, "itemNotFound", "The upload session was not found.")
    return session


def _status(session: dict) -> dict:
    return {"expirationDateTime": session["expires"],
            "nextExpectedRanges": [f"{session['received']}-"
                                   + (str(session["total"] - 1) if session["total"] else "")]}


def upload_fragment(ctx: Ctx, session_id: str):
    match = CONTENT_RANGE.match(ctx.request.headers.get("Content-Range", ""))
    if match is None:
        raise ApiError(400, "invalidRequest", "A Content-Range header of the form "
                                              "'bytes start-end/total' is required.")
    start, end, total = (int(value) for value in match.groups())
    data = ctx.request.get_data()
    if end < start or end >= total or len(data) != end - start + 1:
        raise ApiError(400, "invalidRequest", "The Content-Range header does not match the "
                                              "bytes in the request.")
    if len(data) > MAX_FRAGMENT:
        raise ApiError(413, "requestEntityTooLarge", "A fragment can be at most 60 MiB.")
    with ctx.state.tx() as tx:
        session = _session(tx, session_id)
        if session["total"] not in (None, total):
            raise ApiError(400, "invalidRequest", "The total size does not match the upload "
                                                  "session's.")
        if start != session["received"]:
            overlap = start < session["received"]
            raise ApiError(416, "invalidRange", "Uploaded fragment overlaps with existing "
                           "data." if overlap else "Uploaded fragment is out of order.",
                           inner={"code": "fragmentOverlap" if overlap
                                  else "fragmentOutOfOrder"})
        tx.put_blob(f"upload:{session_id}:{start:015d}", data)
        session.update(total=total, received=end + 1)
        if session["received"] < total:
            tx.put("upload", session_id, session)
            return json_response(_status(session), 202)
        content = b"".join(tx.blobs(f"upload:{session_id}:"))
        drive = session["drive_id"]
        path = _place(tx, drive, session["path"], session["behaviour"])
        refuse_if_locked(tx, drive, path)  # the session stays: the last fragment can be
        # sent again once the file is closed (https://learn.microsoft.com/graph/errors)
        record, created = store_file(tx, drive, path, content, None, via="session",
                                     actor=session["actor"])
        tx.delete("upload", session_id)
        tx.delete_blobs(f"upload:{session_id}:")
    return json_response(public(ctx, record), 201 if created else 200)


def upload_status(ctx: Ctx, session_id: str):
    with ctx.state.read() as tx:
        return json_response(_status(_session(tx, session_id)))


def cancel_upload(ctx: Ctx, session_id: str):
    with ctx.state.tx() as tx:
        _session(tx, session_id)
        tx.delete("upload", session_id)
        tx.delete_blobs(f"upload:{session_id}:")
    return empty_response(204)


def download(ctx: Ctx, drive: str, path: str):
    """The pre-authenticated download URL a content GET redirects to."""
    with ctx.state.read() as tx:
        record = tx.get("file", file_key(drive, path))
        data = tx.blob(f"file:{file_key(drive, path)}") if record else None
    if record is None or data is None:
        raise _not_found()
    return Response(data, status=200, content_type=record["mimeType"])


@permissions.requires(permissions.GET_DRIVE)
def get_drive(ctx: Ctx, drive: str):
    with ctx.state.read() as tx:
        return json_response({"@odata.context": f"{ctx.graph_url}/$metadata#drives/$entity",
                              **_drive(tx, drive)})


def rules() -> list[Rule]:
    return [Rule("/v1.0/drives/<drive>", endpoint=get_drive, methods=["GET"]),
            Rule("/v1.0/drives/<drive>/<path:rest>", endpoint=drive_item,
                 methods=["GET", "PUT", "POST", "DELETE", "PATCH"])]


def upload_rules() -> list[Rule]:
    """Outside /v1.0 and without auth: faults apply, as to Graph's own upload hosts."""
    return [Rule("/_upload/<session_id>", endpoint=upload_fragment, methods=["PUT"]),
            Rule("/_upload/<session_id>", endpoint=upload_status, methods=["GET"]),
            Rule("/_upload/<session_id>", endpoint=cancel_upload, methods=["DELETE"])]


def download_rules() -> list[Rule]:
    return [Rule("/_download/<drive>/<path:path>", endpoint=download, methods=["GET"])]
