"""How the sandbox speaks Graph: JSON responses, error bodies, dates, ids and paging.

Every error body has Graph's shape (https://learn.microsoft.com/graph/errors):
`{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

# What Graph sends; kiota picks its JSON parser from the part before ";".
JSON_TYPE = ("application/json;odata.metadata=minimal;odata.streaming=true;"
             "IEEE754Compatible=false;charset=utf-8")
TENANT_ID = "00000000-5a4d-4b1e-9a7c-5a4dbe5a4db0"


class ApiError(Exception):
    """A Graph error answer: raised by a route, turned into a response by the app."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict | None = None, inner: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.inner = inner or {}


_CLOCK: ContextVar[Callable[[], datetime] | None] = ContextVar("graph_sandbox_clock",
                                                              default=None)


def utc_now() -> datetime:
    """Now, by the sandbox's clock (SandboxState(clock=...)) or the system's."""
    clock = _CLOCK.get()
    return (clock() if clock is not None else datetime.now(UTC)).astimezone(UTC)


@contextmanager
def clock_of(clock: Callable[[], datetime] | None) -> Iterator[None]:
    """Within this block, `utc_now` and `iso` read `clock` (None: the system's)."""
    token = _CLOCK.set(clock)
    try:
        yield
    finally:
        _CLOCK.reset(token)


def iso(moment: datetime | None = None) -> str:
    """Graph's DateTimeOffset: `2026-11-25T09:00:00.123Z`."""
    moment = (moment or utc_now()).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """A DateTimeOffset or naive dateTime (taken as UTC); ValueError when it is neither."""
    value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def error_body(code: str, message: str, request_id: str, client_request_id: str = "",
               inner: dict | None = None) -> dict:
    inner_error = {"date": utc_now().strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
                   "client-request-id": client_request_id or request_id}
    inner_error.update(inner or {})
    return {"error": {"code": code, "message": message, "innerError": inner_error}}


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type=JSON_TYPE)


def empty_response(status: int = 204, headers: dict | None = None) -> Response:
    return Response(b"", status=status, headers=headers or {})


def user_id(actor: str) -> str:
    """A stable object id for whoever a token names."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-sandbox:user:{actor.lower()}"))


def identity(actor: str) -> dict:
    return {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": user_id(actor),
            "displayName": actor, "userIdentityType": "aadUser", "tenantId": TENANT_ID}


def encode_token(value: str) -> str:
    """An opaque $skiptoken (SharePoint's look: base64 without padding)."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "BadRequest", "The $skiptoken is not valid.") from exc


class Ctx:
    """One request, as a route sees it."""

    def __init__(self, request: Request, state, actor: str, request_id: str):
        self.request, self.state, self.actor, self.request_id = (
            request, state, actor, request_id)
        self.principal = None  # graph.sandbox.auth.Principal, set for /v1.0 routes
        self._body: dict | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, as the caller reached us."""
        return self.request.host_url.rstrip("/")

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query option, with or without its `$` (Graph accepts both)."""
        args = self.request.args
        if name.startswith("$"):
            return args.get(name, args.get(name[1:], default))
        return args.get(name, default)

    def body(self) -> dict:
        """The JSON request body, which must be an object."""
        if self._body is None:
            raw = self.request.get_data()
            try:
                data = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                raise ApiError(400, "BadRequest", "Unable to read JSON request payload. "
                               "Please ensure Content-Type header is set and payload is "
                               "of valid JSON format.") from exc
            if not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "Invalid request body was sent.")
            self._body = data
        return self._body

    def top(self, default: int, maximum: int, strict: bool) -> int:
        """$top: at most `maximum` (an error when `strict`, else silently capped)."""
        raw = self.arg("$top")
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ApiError(400, "BadRequest",
                           f"Invalid value '{raw}' for query option '$top'.") from exc
        if value < 1:
            raise ApiError(400, "BadRequest",
                           f"Invalid value '{raw}' for query option '$top'.")
        if value > maximum:
            if strict:
                raise ApiError(400, "BadRequest",
                               f"Limit of '{maximum}' for Top Query has been exceeded.")
            value = maximum
        return value


def text_field(body: dict, name: str, default: str = "") -> str:
    """A string property of a request body (None counts as absent)."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ApiError(400, "RequestBodyRead",
                       f"Invalid value for property '{name}': a string was expected.")
    return value


def list_field(body: dict, name: str) -> list:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, "RequestBodyRead",
                       f"Invalid value for property '{name}': a collection was expected.")
    return value


def item_body(value, name: str = "body") -> dict:
    """An itemBody {contentType: text|html, content}."""
    if value is None:
        return {"contentType": "html", "content": ""}
    if not isinstance(value, dict):
        raise ApiError(400, "RequestBodyRead",
                       f"Invalid value for property '{name}': an itemBody was expected.")
    kind = value.get("contentType") or "text"
    if not isinstance(kind, str) or kind.lower() not in ("text", "html"):
        raise ApiError(400, "RequestBodyRead", f"Cannot convert the literal '{kind}' to "
                                               "the expected type 'microsoft.graph.bodyType'.")
    return {"contentType": kind.lower(), "content": text_field(value, "content")}
