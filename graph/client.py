"""`Graph` implemented with the official msgraph-sdk, over real HTTP.

- Sync over async: the SDK is async, jobs are sync. One event-loop thread per process
  runs every request (an SDK client reused across `asyncio.run` calls fails with "Event
  loop is closed"); it starts at first use and again in a forked child. One SDK client
  (one httpx pool) per base URL and timeout lives on it, shared by every GraphClient,
  so a GraphClient is cheap to make per delivery.
- Deadlines: each request has one that fits what it does (`DEADLINES`, chosen from the
  request's method and path by `request_kind`), so a stalled post gives its worker back
  in seconds while an upload chunk may take a minute. A request past its deadline is
  status 0: it may or may not have been applied, and the outbox looks before repeating.
- Tokens: the token callable runs in the caller's thread before each request (an MSAL
  refresh and its cache write belong to the job, not to the shared loop) and reaches
  the SDK's auth provider through a context variable, only for the Graph host.
- Retries: the SDK's RetryHandler is off. A hidden retry sleeping for Retry-After would
  hold a worker, and could post twice; the outbox owns retries, backoff (honouring
  `GraphError.retry_after`) and idempotency.
- Requests are built with the SDK's request builders and models; responses are read as
  plain JSON. Kiota's typed parsing costs ~11 ms per Graph object (and 2 s importing
  ~1,200 model modules the first time), so 50 messages would take half a second and a
  10,000-row list nearly two minutes; json.loads takes milliseconds.
- msgraph is imported inside functions: it is large and the web process rarely needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from graph.port import (
    CARD_CONTENT_TYPE,
    DELIVERY_PROPERTY,
    MAX_MAIL_RECIPIENTS,
    SIMPLE_UPLOAD_LIMIT,
    ActivityNotification,
    AppNotInstalled,
    Card,
    CardMarker,
    Channel,
    ChannelMessage,
    Conflict,
    DriveFile,
    Event,
    EventRequest,
    GraphError,
    InstalledApp,
    InvalidRequest,
    ListItem,
    Locked,
    Mail,
    Meeting,
    NotFound,
    Sender,
    Tab,
    TabRequest,
    TeamMember,
    UploadSession,
)
from graph.process_loop import PerProcess, start_loop

# Upload sessions take chunks in multiples of 320 KiB. 12 of them (3.75 MiB) is the most
# that stays under the 4 MB simple-upload limit, so no request body we send is larger
# than a simple upload and one deadline ("upload") fits every request that carries a file.
UPLOAD_CHUNK = 12 * 320 * 1024
MAX_UPLOAD_RESUMES = 3  # chunk failures resumed from nextExpectedRanges per upload
RECENT_MESSAGES = 50  # Graph's largest $top for channel messages and replies
READ_TRIES = 3  # a GET page is tried up to this many times within one call
MAX_READ_WAIT = 2.0  # seconds; a longer Retry-After goes back to the outbox's backoff
QUICK = 2.0  # seconds: a failure slower than this is not retried in place (a stall)
GRACE = 5.0  # the caller's backstop beyond the request deadline
# Seconds from sending a request to the whole answer, by what it does. Microsoft's docs
# name no client deadlines (its SDKs default to 100 s for everything), so these are
# several times what each takes on a slow day: Teams answers a post or a read in well
# under a second, Outlook a draft or a send in a second or two; creating a channel also
# provisions its SharePoint folder, and a file chunk is up to 3.75 MiB on the uplink.
DEADLINES = {
    "read": 10.0,  # one GET page (lists, messages, channels, drafts, a file's metadata)
    "post": 10.0,  # a channel message or reply
    "mail": 15.0,  # a draft, its send, sendMail
    "meeting": 15.0,  # an event or an online meeting
    "member": 15.0,  # adding someone to a team or a private channel
    "channel": 30.0,  # creating a channel
    "upload": 60.0,  # a small file, or one upload-session chunk (PUT)
    "change": 15.0,  # anything else that changes something (archive, delete)
}
LONGEST = max(DEADLINES.values())
DELIVERY_HEADER = "x-incident-desk-delivery"
DRAFTS_PAGE = 50  # drafts read per page when looking for an earlier attempt's
MAX_FOUND_DRAFTS = 200  # a bound on that look-up; this code keeps one draft per key
CHANNEL_FIELDS = ["id", "displayName", "description", "membershipType", "webUrl",
                  "isArchived"]
# What `create_invalid_draft` sends, so that Outlook refuses it twice over.
PROBE_SUBJECT = "Incident Desk set-up check (never saved)"
NOT_AN_ADDRESS = "incident-desk-set-up-check"
NOT_A_CUSTOM_HEADER = "Incident-Desk-Set-Up-Check"

_TOKEN: contextvars.ContextVar[str] = contextvars.ContextVar("graph_token", default="")


# ---- one event loop per process ---------------------------------------------------------


class _Runtime:
    """The process's event-loop thread and the SDK clients that live on it."""

    def __init__(self):
        self.loop = start_loop("graph-sdk-loop")
        self.sdks: dict[tuple[str, float], Any] = {}  # touched on the loop thread only

    def sdk(self, base_url: str, timeout: float):
        client = self.sdks.get((base_url, timeout))
        if client is None:
            client = self.sdks[(base_url, timeout)] = _build_sdk(base_url, timeout)
        return client


_runtimes = PerProcess(_Runtime)


def _build_sdk(base_url: str, timeout: float):
    """A GraphServiceClient for base_url: Graph's default middleware minus retries, and
    a bearer token from `_TOKEN` sent to base_url's host only."""
    import httpx
    from kiota_abstractions.authentication import (
        AccessTokenProvider,
        AllowedHostsValidator,
        BaseBearerTokenAuthenticationProvider,
    )
    from kiota_http.middleware.options import RetryHandlerOption
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.graph_request_adapter import options as graph_options
    from msgraph_core import GraphClientFactory

    hosts = AllowedHostsValidator([urlsplit(base_url).hostname or ""])

    class ContextToken(AccessTokenProvider):
        async def get_authorization_token(self, uri: str,
                                          additional_authentication_context=None) -> str:
            # Pre-authenticated URLs elsewhere (upload sessions, downloads) get no token.
            return _TOKEN.get() if hosts.is_url_host_valid(uri) else ""

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return hosts

    options = {**graph_options,
               RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0,
                                                                should_retry=False)}
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(timeout=httpx.Timeout(timeout)), options=options)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(ContextToken()),
                                  client=http)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter)


async def _send(sdk, info, parse: bool = True):
    """Send a RequestInformation; the JSON body as a dict (or the raw bytes)."""
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    raw = await sdk.request_adapter.send_primitive_async(info, "bytes", {"XXX": ODataError})
    if not parse:
        return raw or b""
    return json.loads(raw) if raw else {}


def request_kind(method: str, url: str) -> str:
    """Which `DEADLINES` entry a request gets, from its method and path."""
    method = method.upper()
    path = urlsplit(url).path.rstrip("/").lower()
    if method == "GET":
        return "read"
    if method == "PUT":
        return "upload"
    if method != "POST":
        return "change"
    last = path.rsplit("/", 1)[-1]
    if "/channels/" in path and last in ("messages", "replies"):
        return "post"
    if last == "channels":
        return "channel"
    if last == "members":
        return "member"
    if last in ("messages", "send", "sendmail"):
        return "mail"
    if last in ("events", "createorget"):
        return "meeting"
    return "change"


# ---- errors ------------------------------------------------------------------------------


def _retry_after(headers) -> float | None:
    value = None
    if headers is not None:
        value = headers.get("retry-after") or headers.get("Retry-After")
    if isinstance(value, (list, set, tuple)):
        value = next(iter(value), None)
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:  # an HTTP date
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


def _error(exc: BaseException) -> BaseException:
    """Our error for what the SDK or the network raised; anything else (a bug) as is."""
    import httpx
    from kiota_abstractions.api_error import APIError

    if isinstance(exc, GraphError):
        return exc
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return GraphError(f"Microsoft Graph did not answer in time ({exc!r})", status=0)
    if isinstance(exc, httpx.HTTPError):
        return GraphError(f"Microsoft Graph could not be reached ({exc!r})", status=0)
    if not isinstance(exc, APIError):
        return exc
    status = exc.response_status_code or 0
    code, message = "", exc.message or ""
    detail = getattr(exc, "error", None)  # ODataError's MainError
    if detail is not None:
        code, message = detail.code or "", detail.message or message
    message = message or f"Microsoft Graph answered {status}"
    kind = GraphError
    if status == 404:
        kind = NotFound
    elif status == 423:  # open for editing (https://learn.microsoft.com/graph/errors)
        kind = Locked
    elif status == 409 or code.lower() in ("namealreadyexists", "erroritemalreadyexists"):
        kind = Conflict
    elif status in (400, 413, 422):
        kind = InvalidRequest
    return kind(message, status=status, code=code,
                retry_after=_retry_after(exc.response_headers))


# ---- reading Graph's JSON ------------------------------------------------------------------


def _when(value: str | None) -> datetime | None:
    """Graph's timestamps, which may carry 7 fractional digits."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, tail = text.split(".", 1)
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[:digits][:6].ljust(6, '0')}{tail[digits:]}"
    return datetime.fromisoformat(text)


def _channel(team_id: str, raw: dict) -> Channel:
    return Channel(id=raw["id"], team_id=team_id, display_name=raw.get("displayName") or "",
                   web_url=raw.get("webUrl") or "", description=raw.get("description") or "",
                   membership_type=raw.get("membershipType") or "standard",
                   is_archived=bool(raw.get("isArchived")))


def _odata_text(value: str) -> str:
    """A string inside an OData literal: a quote is doubled."""
    return value.replace("'", "''")


def _user_bind(user_id: str) -> str:
    """`user@odata.bind` for an object id or UPN (a quote in an OData key is doubled)."""
    return "https://graph.microsoft.com/v1.0/users('{}')".format(user_id.replace("'", "''"))


def _teams_app_bind(teams_app_id: str) -> str:
    """`teamsApp@odata.bind`: the app catalog's teamsApp, as channel-post-tabs shows it."""
    return f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{quote(teams_app_id)}"


def _tab(raw: dict) -> Tab:
    configuration = raw.get("configuration") or {}
    return Tab(id=str(raw.get("id") or ""), display_name=raw.get("displayName") or "",
               teams_app_id=(raw.get("teamsApp") or {}).get("id") or "",
               entity_id=configuration.get("entityId") or "",
               content_url=configuration.get("contentUrl") or "",
               web_url=raw.get("webUrl") or "")


def _about_the_user(error: GraphError) -> bool:
    """Whether Graph's refusal is about the person rather than the team or channel:
    "User is not found in the team.", "User ... is not part of team ...", a disabled or
    blocked user (404)."""
    text = error.message.lower()
    return "user" in text and ("team" in text or error.status == 404)


def _message(raw: dict) -> ChannelMessage:
    return ChannelMessage(
        id=raw["id"], html=(raw.get("body") or {}).get("content") or "",
        web_url=raw.get("webUrl") or "", created_at=_when(raw.get("createdDateTime")),
        sender_name=((raw.get("from") or {}).get("user") or {}).get("displayName") or "",
        attachment_ids=tuple(a.get("id") for a in raw.get("attachments") or []),
        reply_to_id=raw.get("replyToId"))


def _drive_file(raw: dict, name: str, size: int) -> DriveFile:
    return DriveFile(id=raw["id"], name=raw.get("name") or name, web_url=raw.get("webUrl") or "",
                     size=raw.get("size", size), etag=raw.get("eTag") or "")


def _next_range(session: dict, done: int) -> int:
    """Where the upload session wants the next byte from ("26-" or "26-100")."""
    ranges = session.get("nextExpectedRanges") or []
    if not ranges:
        return done
    return int(str(ranges[0]).split("-", 1)[0])


# ---- the client ----------------------------------------------------------------------------


class GraphClient:
    """Microsoft Graph as `graph.port.Graph`. Each request's deadline, from sending to the
    whole answer, fits its kind (`DEADLINES`); `timeout` caps them all (the set-up check's
    probes). `token` returns a bearer token (see graph.tokens)."""

    def __init__(self, base_url: str, token: Callable[[], str], timeout: float | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token

    def __repr__(self) -> str:
        return f"GraphClient({self.base_url!r})"

    def ready(self) -> None:
        self._token()  # a provider keeps what it fetched for the calls that follow

    # ---- plumbing ------------------------------------------------------------------------

    def deadline(self, method: str, url: str) -> float:
        """Seconds this request may take (its kind's, within `timeout`)."""
        kind = DEADLINES[request_kind(method, url)]
        return kind if self.timeout is None else min(kind, self.timeout)

    def _call(self, build: Callable[[Any], Any], parse: bool = True):
        """Send what `build(sdk)` returns (a RequestInformation) on the loop, within its
        deadline, and wait for the answer (JSON as a dict, or bytes if not `parse`).
        A token kept across deliveries that Graph refuses (401: nothing was applied) is
        dropped and the request sent once more with a fresh one."""
        token = self._token()  # here, in the caller's thread: see the module docstring
        forget = getattr(self._token, "forget", None)
        try:
            return self._send_once(build, parse, token)
        except GraphError as error:
            if error.status != 401 or forget is None:
                raise
            forget(token)
            fresh = self._token()
            if fresh == token:
                raise
            return self._send_once(build, parse, fresh)

    def _send_once(self, build: Callable[[Any], Any], parse: bool, token: str):
        runtime = _runtimes.get()
        base_url, longest = self.base_url, self.timeout or LONGEST

        async def call():
            _TOKEN.set(token)  # this task's own context: no other request sees it
            sdk = runtime.sdk(base_url, longest)
            info = build(sdk)
            deadline = self.deadline(info.http_method.value, info.url)
            return await asyncio.wait_for(_send(sdk, info, parse), deadline)

        future = asyncio.run_coroutine_threadsafe(call(), runtime.loop)
        try:
            # The deadline is the request's; this only guards against a stuck loop.
            return future.result(longest + GRACE)
        except TimeoutError as exc:
            future.cancel()
            raise _error(exc) from exc
        except Exception as exc:
            mapped = _error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def _json(self, build: Callable[[Any], Any]) -> dict:
        """Send what `build(sdk)` returns (a RequestInformation); the JSON answer."""
        return self._call(build)

    def _read(self, build: Callable[[Any], Any]) -> dict:
        """A GET, tried again briefly if Graph throttles or stumbles: a read changes
        nothing, and one failed page should not fail a delivery that reads many. Not
        after a stall (a failure slower than QUICK): that worker has waited enough, and
        the delivery's backoff tries again."""
        for attempt in range(READ_TRIES):
            started = time.monotonic()
            try:
                return self._json(build)
            except GraphError as error:
                wait = error.retry_after or 0.0
                if not error.retryable or attempt == READ_TRIES - 1 or wait > MAX_READ_WAIT \
                        or time.monotonic() - started > QUICK:
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _pages(self, first: Callable[[Any], Any], builder: Callable[[Any], Any]
               ) -> Iterator[dict]:
        """Page after page, following @odata.nextLink only when the caller wants more."""
        page = self._read(first)
        while True:
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            page = self._read(lambda sdk, link=link: builder(sdk).with_url(link)
                              .to_get_request_information())

    @staticmethod
    def _who(sdk, sender: Sender):
        return sdk.me if sender.user_id is None else sdk.users.by_user_id(sender.user_id)

    @staticmethod
    def _query(builder, cls_name: str, **values):
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        return RequestConfiguration(query_parameters=getattr(builder, cls_name)(**values))

    # ---- Teams ---------------------------------------------------------------------------

    @staticmethod
    def _member(user_id: str, owner: bool):
        from msgraph.generated.models.aad_user_conversation_member import (
            AadUserConversationMember,
        )

        # Serialises with "@odata.type": "#microsoft.graph.aadUserConversationMember",
        # which Graph insists on for each member of a new private channel.
        return AadUserConversationMember(roles=["owner"] if owner else [],
                                         additional_data={"user@odata.bind":
                                                          _user_bind(user_id)})

    def create_channel(self, team_id: str, display_name: str, description: str = "",
                       private_owner: str | None = None,
                       co_owners: Sequence[str] = ()) -> Channel:
        from msgraph.generated.models.channel import Channel as ChannelModel
        from msgraph.generated.models.channel_membership_type import ChannelMembershipType

        if private_owner is None:
            body = ChannelModel(display_name=display_name, description=description or None,
                                membership_type=ChannelMembershipType.Standard)
        else:
            body = ChannelModel(display_name=display_name, description=description or None,
                                membership_type=ChannelMembershipType.Private,
                                members=[self._member(user, owner=True) for user in
                                         dict.fromkeys((private_owner, *co_owners))])
        try:
            raw = self._json(lambda sdk: sdk.teams.by_team_id(team_id).channels
                             .to_post_request_information(body))
        except (InvalidRequest, NotFound) as error:
            if private_owner is None or not _about_the_user(error):
                raise
            raise InvalidRequest(
                f"The private channel {display_name!r} cannot have {private_owner} as its "
                f"owner ({error.message}): the owner must already be a member of team "
                f"{team_id} (add them to the team first), with an enabled account.",
                status=error.status, code=error.code) from error
        return _channel(team_id, raw)

    def find_channel(self, team_id: str, display_name: str) -> Channel | None:
        # Every channel, compared here: Teams treats names case-insensitively and a
        # $filter on displayName is not documented to.
        wanted = display_name.lower()
        return next((c for c in self._channels(team_id)
                     if c.display_name.lower() == wanted), None)

    def list_channels(self, team_id: str) -> list[Channel]:
        return list(self._channels(team_id))

    def _channels(self, team_id: str) -> Iterator[Channel]:
        def first(sdk):
            channels = sdk.teams.by_team_id(team_id).channels
            # Only what we read, as the List channels page advises: $select.
            return channels.to_get_request_information(self._query(
                channels, "ChannelsRequestBuilderGetQueryParameters", select=CHANNEL_FIELDS))

        for page in self._pages(first, lambda sdk: sdk.teams.by_team_id(team_id).channels):
            for raw in page.get("value", []):
                yield _channel(team_id, raw)

    @staticmethod
    def _chat_message(html: str, cards: Sequence[Card]):
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.chat_message import ChatMessage
        from msgraph.generated.models.chat_message_attachment import ChatMessageAttachment
        from msgraph.generated.models.item_body import ItemBody

        content = html + "".join(f'<attachment id="{card.attachment_id}"></attachment>'
                                 for card in cards)
        return ChatMessage(
            body=ItemBody(content_type=BodyType.Html, content=content),
            attachments=[ChatMessageAttachment(id=card.attachment_id,
                                               content_type=CARD_CONTENT_TYPE,
                                               content=json.dumps(card.content))
                         for card in cards] or None)

    @staticmethod
    def _messages(sdk, team_id: str, channel_id: str):
        return sdk.teams.by_team_id(team_id).channels.by_channel_id(channel_id).messages

    def post_message(self, team_id: str, channel_id: str, html: str,
                     cards: Sequence[Card] = ()) -> ChannelMessage:
        body = self._chat_message(html, cards)
        return _message(self._json(lambda sdk: self._messages(sdk, team_id, channel_id)
                                   .to_post_request_information(body)))

    def reply(self, team_id: str, channel_id: str, message_id: str, html: str,
              cards: Sequence[Card] = ()) -> ChannelMessage:
        body = self._chat_message(html, cards)
        return _message(self._json(lambda sdk: self._messages(sdk, team_id, channel_id)
                                   .by_chat_message_id(message_id).replies
                                   .to_post_request_information(body)))

    def find_message(self, team_id: str, channel_id: str, attachment_id: str,
                     reply_to_id: str | None = None,
                     since: datetime | None = None) -> ChannelMessage | None:
        """Without `since`, the last 50; with it, page back until a whole page is older
        than `since` (that way the order of messages within a page does not matter)."""
        def builder(sdk):
            messages = self._messages(sdk, team_id, channel_id)
            return messages if reply_to_id is None else \
                messages.by_chat_message_id(reply_to_id).replies

        def first(sdk):
            target = builder(sdk)
            name = "MessagesRequestBuilderGetQueryParameters" if reply_to_id is None \
                else "RepliesRequestBuilderGetQueryParameters"
            return target.to_get_request_information(
                self._query(target, name, top=RECENT_MESSAGES))

        for page in self._pages(first, builder):
            rows = page.get("value", [])
            for raw in rows:
                if any(a.get("id") == attachment_id for a in raw.get("attachments") or []):
                    return _message(raw)
            if since is None or all((_when(raw.get("createdDateTime")) or since) < since
                                    for raw in rows):
                return None
        return None

    def find_card_message(self, team_id: str, channel_id: str, marker: CardMarker,
                          since: datetime | None = None) -> ChannelMessage | None:
        """As find_message, matching the card's content instead of its attachment id."""
        def first(sdk):
            messages = self._messages(sdk, team_id, channel_id)
            return messages.to_get_request_information(self._query(
                messages, "MessagesRequestBuilderGetQueryParameters", top=RECENT_MESSAGES))

        for page in self._pages(first, lambda sdk: self._messages(sdk, team_id, channel_id)):
            rows = page.get("value", [])
            for raw in rows:
                if any(marker.carried_by(a) for a in raw.get("attachments") or []):
                    return _message(raw)
            if since is None or all((_when(raw.get("createdDateTime")) or since) < since
                                    for raw in rows):
                return None
        return None

    def channel_messages(self, team_id: str, channel_id: str,
                         since: datetime | None = None,
                         with_replies: bool = False) -> Iterator[ChannelMessage]:
        expand = ["replies"] if with_replies else None

        def first(sdk):
            messages = self._messages(sdk, team_id, channel_id)
            return messages.to_get_request_information(self._query(
                messages, "MessagesRequestBuilderGetQueryParameters", top=RECENT_MESSAGES,
                expand=expand))

        for page in self._pages(first, lambda sdk: self._messages(sdk, team_id, channel_id)):
            for raw in page.get("value", []):
                message = _message(raw)
                if since is not None and message.created_at and message.created_at < since:
                    return
                if with_replies:
                    message = replace(message, replies=self._replies(team_id, channel_id, raw))
                yield message

    def _replies(self, team_id: str, channel_id: str, post: dict
                 ) -> tuple[ChannelMessage, ...]:
        """A post's expanded replies, and the rest from its `replies@odata.nextLink`
        (Graph inlines at most 1,000: learn.microsoft.com/graph/api/channel-list-messages),
        oldest first, each naming its post."""
        found = list(post.get("replies") or [])
        link = post.get("replies@odata.nextLink")
        if link:
            def replies(sdk):
                return self._messages(sdk, team_id, channel_id) \
                    .by_chat_message_id(post["id"]).replies

            for page in self._pages(lambda sdk: replies(sdk).with_url(link)
                                    .to_get_request_information(), replies):
                found.extend(page.get("value", []))
        unique = {raw["id"]: raw for raw in found}  # a page boundary may repeat one
        messages = [replace(_message(raw), reply_to_id=raw.get("replyToId") or post["id"])
                    for raw in unique.values()]
        oldest = datetime.min.replace(tzinfo=UTC)
        return tuple(sorted(messages, key=lambda m: (m.created_at or oldest, m.id)))

    def add_team_member(self, team_id: str, user_id: str, owner: bool = False) -> None:
        member = self._member(user_id, owner)
        try:
            self._json(lambda sdk: sdk.teams.by_team_id(team_id).members
                       .to_post_request_information(member))
        except Conflict:
            return  # already a member

    @staticmethod
    def _channel_members(sdk, team_id: str, channel_id: str):
        return sdk.teams.by_team_id(team_id).channels.by_channel_id(channel_id).members

    def add_channel_member(self, team_id: str, channel_id: str, user_id: str,
                           owner: bool = False) -> str:
        member = self._member(user_id, owner)
        try:
            raw = self._json(lambda sdk: self._channel_members(sdk, team_id, channel_id)
                             .to_post_request_information(member))
        except Conflict:
            return ""  # already a member
        except (InvalidRequest, NotFound) as error:
            if not _about_the_user(error):
                raise  # no such team or channel; a standard channel; a malformed request
            raise InvalidRequest(
                f"{user_id} cannot join channel {channel_id} ({error.message}): a private "
                f"channel takes only people who are already members of team {team_id} (add "
                "them to the team first), with an enabled account.",
                status=error.status, code=error.code) from error
        return str(raw.get("id") or "")

    def remove_channel_member(self, team_id: str, channel_id: str, user_id: str,
                              membership_id: str = "") -> None:
        try:
            membership = membership_id or self._membership(team_id, channel_id, user_id)
            if membership:
                self._json(lambda sdk: self._channel_members(sdk, team_id, channel_id)
                           .by_conversation_member_id(membership)
                           .to_delete_request_information())
        except NotFound:
            return  # not in the channel (any more): what was asked

    def _membership(self, team_id: str, channel_id: str, user_id: str) -> str:
        """The id of `user_id`'s membership of the channel, "" if they are not in it
        (matched on userId, or on email for a UPN, as Teams compares: ignoring case)."""
        wanted = user_id.lower()
        for page in self._pages(
                lambda sdk: self._channel_members(sdk, team_id, channel_id)
                .to_get_request_information(),
                lambda sdk: self._channel_members(sdk, team_id, channel_id)):
            for raw in page.get("value", []):
                if wanted in ((raw.get("userId") or "").lower(),
                              (raw.get("email") or "").lower()):
                    return str(raw.get("id") or "")
        return ""

    def get_channel(self, team_id: str, channel_id: str) -> Channel:
        return _channel(team_id, self._read(lambda sdk: sdk.teams.by_team_id(team_id).channels
                                            .by_channel_id(channel_id)
                                            .to_get_request_information()))

    def archive_channel(self, team_id: str, channel_id: str) -> None:
        from msgraph.generated.teams.item.channels.item.archive import (
            archive_post_request_body as module,
        )

        # shouldSetSpoSiteReadOnlyForMembers false: the channel's files stay as they are.
        body = module.ArchivePostRequestBody(should_set_spo_site_read_only_for_members=False)
        self._json(lambda sdk: sdk.teams.by_team_id(team_id).channels
                   .by_channel_id(channel_id).archive.to_post_request_information(body))

    def unarchive_channel(self, team_id: str, channel_id: str) -> None:
        self._json(lambda sdk: sdk.teams.by_team_id(team_id).channels
                   .by_channel_id(channel_id).unarchive.to_post_request_information())

    # ---- Teams apps and tabs ---------------------------------------------------------------

    def find_installed_app(self, team_id: str, external_id: str) -> InstalledApp | None:
        wanted = f"teamsApp/externalId eq '{_odata_text(external_id)}'"

        def installed(sdk):
            return sdk.teams.by_team_id(team_id).installed_apps

        def first(sdk):
            return installed(sdk).to_get_request_information(self._query(
                installed(sdk), "InstalledAppsRequestBuilderGetQueryParameters",
                expand=["teamsApp"], filter=wanted))

        for page in self._pages(first, installed):
            for raw in page.get("value", []):
                app = raw.get("teamsApp") or {}
                if (app.get("externalId") or "").lower() == external_id.lower() and app.get("id"):
                    return InstalledApp(installation_id=str(raw.get("id") or ""),
                                        teams_app_id=app["id"],
                                        external_id=app.get("externalId") or "",
                                        display_name=app.get("displayName") or "")
        return None

    @staticmethod
    def _tabs(sdk, team_id: str, channel_id: str):
        return sdk.teams.by_team_id(team_id).channels.by_channel_id(channel_id).tabs

    def list_tabs(self, team_id: str, channel_id: str, teams_app_id: str = "") -> list[Tab]:
        wanted = f"teamsApp/id eq '{_odata_text(teams_app_id)}'" if teams_app_id else None

        def first(sdk):
            tabs = self._tabs(sdk, team_id, channel_id)
            return tabs.to_get_request_information(self._query(
                tabs, "TabsRequestBuilderGetQueryParameters", expand=["teamsApp"],
                filter=wanted))

        found = [_tab(raw) for page in self._pages(
            first, lambda sdk: self._tabs(sdk, team_id, channel_id))
            for raw in page.get("value", [])]
        return [t for t in found if not teams_app_id or t.teams_app_id == teams_app_id]

    def pin_tab(self, team_id: str, channel_id: str, tab: TabRequest) -> Tab:
        from msgraph.generated.models.teams_tab import TeamsTab
        from msgraph.generated.models.teams_tab_configuration import TeamsTabConfiguration

        # The bind goes on the tab itself: inside `configuration` Graph answers "The
        # navigation bind for the teamsApp was missing in request" (msgraph-sdk-dotnet#2448).
        body = TeamsTab(
            display_name=tab.display_name,
            configuration=TeamsTabConfiguration(
                entity_id=tab.entity_id, content_url=tab.content_url,
                website_url=tab.website_url or None, remove_url=tab.remove_url or None),
            additional_data={"teamsApp@odata.bind": _teams_app_bind(tab.teams_app_id)})
        raw = self._json(lambda sdk: self._tabs(sdk, team_id, channel_id)
                         .to_post_request_information(body))
        pinned = _tab(raw)
        return pinned if pinned.teams_app_id else replace(pinned, teams_app_id=tab.teams_app_id)

    # ---- Outlook ---------------------------------------------------------------------------

    @staticmethod
    def _message_model(mail: Mail):
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.internet_message_header import InternetMessageHeader
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.message import Message
        from msgraph.generated.models.recipient import Recipient
        from msgraph.generated.models.single_value_legacy_extended_property import (
            SingleValueLegacyExtendedProperty,
        )

        if mail.recipient_count > MAX_MAIL_RECIPIENTS:
            raise InvalidRequest(f"{mail.recipient_count} recipients in one message; Graph "
                                 f"takes {MAX_MAIL_RECIPIENTS}: split the list",
                                 status=400, code="ErrorExceededMessageLimit")

        def people(addresses: Sequence[str]):
            return [Recipient(email_address=EmailAddress(address=a)) for a in addresses]

        headers = ([InternetMessageHeader(name=DELIVERY_HEADER, value=mail.delivery_key)]
                   if mail.delivery_key else None)
        # The key again, where a $filter can find it (graph.port.DELIVERY_PROPERTY).
        marks = ([SingleValueLegacyExtendedProperty(id=DELIVERY_PROPERTY,
                                                    value=mail.delivery_key)]
                 if mail.delivery_key else None)
        return Message(subject=mail.subject,
                       body=ItemBody(content_type=BodyType.Html, content=mail.html_body),
                       to_recipients=people(mail.to), cc_recipients=people(mail.cc),
                       bcc_recipients=people(mail.bcc), reply_to=people(mail.reply_to),
                       internet_message_headers=headers,
                       single_value_extended_properties=marks)

    def create_draft(self, sender: Sender, mail: Mail) -> str:
        message = self._message_model(mail)
        raw = self._json(lambda sdk: self._who(sdk, sender).messages
                         .to_post_request_information(message))
        return raw["id"]

    def send_draft(self, sender: Sender, draft_id: str) -> None:
        self._json(lambda sdk: self._who(sdk, sender).messages.by_message_id(draft_id).send
                   .to_post_request_information())

    def find_drafts(self, sender: Sender, delivery_key: str) -> list[str]:
        # A filter on the Drafts folder (a restriction Exchange evaluates on the folder's
        # contents, not a $search of the index, which lags behind new items).
        wanted = ("singleValueExtendedProperties/Any(ep: ep/id eq "
                  f"'{DELIVERY_PROPERTY}' and ep/value eq '{_odata_text(delivery_key)}')")

        def drafts(sdk):
            return self._who(sdk, sender).mail_folders.by_mail_folder_id("drafts").messages

        def first(sdk):
            return drafts(sdk).to_get_request_information(self._query(
                drafts(sdk), "MessagesRequestBuilderGetQueryParameters", filter=wanted,
                select=["id", "createdDateTime"], top=DRAFTS_PAGE))

        found: list[tuple[str, str]] = []
        for page in self._pages(first, drafts):
            found += [(raw.get("createdDateTime") or "", raw["id"])
                      for raw in page.get("value", [])]
            if len(found) >= MAX_FOUND_DRAFTS:
                break
        # Graph lists newest first; oldest first, and ties in the order Graph gave.
        oldest_first = sorted(reversed(found), key=lambda pair: pair[0])
        return [draft_id for _created, draft_id in oldest_first]

    def delete_draft(self, sender: Sender, draft_id: str) -> None:
        self._json(lambda sdk: self._who(sdk, sender).messages.by_message_id(draft_id)
                   .to_delete_request_information())

    def send_mail(self, sender: Sender, mail: Mail) -> None:
        from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
            SendMailPostRequestBody,
        )

        body = SendMailPostRequestBody(message=self._message_model(mail),
                                       save_to_sent_items=True)
        self._json(lambda sdk: self._who(sdk, sender).send_mail.to_post_request_information(
            body))

    def create_event(self, sender: Sender, request: EventRequest) -> Event:
        from msgraph.generated.models.attendee import Attendee
        from msgraph.generated.models.attendee_type import AttendeeType
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.event import Event as EventModel
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.location import Location
        from msgraph.generated.models.online_meeting_provider_type import (
            OnlineMeetingProviderType,
        )

        def utc(value: datetime):
            return DateTimeTimeZone(date_time=value.astimezone(UTC).replace(tzinfo=None)
                                    .isoformat(), time_zone="UTC")

        body = EventModel(
            subject=request.subject, start=utc(request.start), end=utc(request.end),
            body=ItemBody(content_type=BodyType.Html, content=request.body_html),
            attendees=[Attendee(email_address=EmailAddress(address=a.email, name=a.name or None),
                                type=AttendeeType.Required if a.required
                                else AttendeeType.Optional) for a in request.attendees],
            is_online_meeting=request.online_meeting,
            online_meeting_provider=(OnlineMeetingProviderType.TeamsForBusiness
                                     if request.online_meeting else None),
            transaction_id=request.transaction_id or None,
            location=Location(display_name=request.location) if request.location else None,
            categories=list(request.categories) or None)
        raw = self._json(lambda sdk: self._who(sdk, sender).events
                         .to_post_request_information(body))
        return Event(id=raw["id"], web_url=raw.get("webLink") or "",
                     subject=raw.get("subject") or "",
                     join_url=(raw.get("onlineMeeting") or {}).get("joinUrl") or "")

    def create_online_meeting(self, sender: Sender, subject: str, start: datetime,
                              end: datetime, external_id: str) -> Meeting:
        from msgraph.generated.users.item.online_meetings.create_or_get import (
            create_or_get_post_request_body as module,
        )

        # An empty id is left out, so Graph refuses the request for want of one.
        body = module.CreateOrGetPostRequestBody(external_id=external_id or None,
                                                 subject=subject,
                                                 start_date_time=start, end_date_time=end)
        raw = self._json(lambda sdk: self._who(sdk, sender).online_meetings.create_or_get
                         .to_post_request_information(body))
        return Meeting(id=raw["id"], join_url=raw.get("joinWebUrl") or "",
                       subject=raw.get("subject") or "")

    # ---- SharePoint ------------------------------------------------------------------------

    def list_items(self, site_id: str, list_id: str, page_size: int = 200
                   ) -> Iterator[ListItem]:
        def items(sdk):
            return sdk.sites.by_site_id(site_id).lists.by_list_id(list_id).items

        def first(sdk):
            return items(sdk).to_get_request_information(self._query(
                items(sdk), "ItemsRequestBuilderGetQueryParameters", expand=["fields"],
                top=page_size))

        for page in self._pages(first, items):
            for raw in page.get("value", []):
                yield ListItem(id=str(raw.get("id")), fields=dict(raw.get("fields") or {}),
                               etag=raw.get("eTag") or "")

    def _by_path(self, drive_id: str, path: str, action: str = "") -> str:
        """An item addressed by path (`root:/folder/name:` and `/action`), which the
        request builders cannot express; used with `with_url`."""
        return (f"{self.base_url}/drives/{quote(drive_id, safe='')}/items/root:/"
                f"{quote(path.strip('/'))}:" + (f"/{action}" if action else ""))

    @staticmethod
    def _root(sdk, drive_id: str):
        return sdk.drives.by_drive_id(drive_id).items.by_drive_item_id("root")

    def upload_file(self, drive_id: str, folder: str, name: str, content: bytes,
                    replace: bool = True) -> DriveFile:
        path = f"{folder.strip('/')}/{name}" if folder.strip("/") else name
        behaviour = "replace" if replace else "fail"
        if len(content) > SIMPLE_UPLOAD_LIMIT:
            return self._upload_in_chunks(drive_id, path, name, bytes(content), behaviour)
        url = self._by_path(drive_id, path, "content") + \
            f"?@microsoft.graph.conflictBehavior={behaviour}"
        raw = self._json(lambda sdk: self._root(sdk, drive_id).content.with_url(url)
                         .to_put_request_information(bytes(content)))
        return _drive_file(raw, name, len(content))

    def _upload_in_chunks(self, drive_id: str, path: str, name: str, content: bytes,
                          behaviour: str) -> DriveFile:
        """An upload session: our own code, as msgraph-core's LargeFileUploadTask is broken
        in this version."""
        from msgraph.generated.drives.item.items.item.create_upload_session import (
            create_upload_session_post_request_body as module,
        )
        from msgraph.generated.models.drive_item_uploadable_properties import (
            DriveItemUploadableProperties,
        )

        body = module.CreateUploadSessionPostRequestBody(item=DriveItemUploadableProperties(
            additional_data={"@microsoft.graph.conflictBehavior": behaviour}))
        url = self._by_path(drive_id, path, "createUploadSession")
        session = self._json(lambda sdk: self._root(sdk, drive_id).create_upload_session
                             .with_url(url).to_post_request_information(body))
        try:
            return _drive_file(self._send_chunks(session["uploadUrl"], content), name,
                               len(content))
        except NotFound as error:
            # The session is gone: a last chunk whose answer was lost completed it (or it
            # expired). The file tells which.
            found = self._item(drive_id, path)
            if found is not None and found.get("size") == len(content):
                return _drive_file(found, name, len(content))
            raise GraphError(f"The upload session for {path} ended before the file was "
                             "complete", status=0, code=error.code) from error
        except GraphError as error:
            if not error.retryable:
                with contextlib.suppress(GraphError):  # it would expire on its own
                    self._raw("DELETE", session["uploadUrl"])
            raise

    def _send_chunks(self, upload_url: str, content: bytes) -> dict:
        """PUT the content in chunks, each where nextExpectedRanges says; after a failed
        chunk, ask the session what it has and go on from there (a few times). Returns the
        drive item Graph answers the last chunk with."""
        total, offset, resumes = len(content), 0, 0
        most = 2 * (total // UPLOAD_CHUNK + 1) + 2 * MAX_UPLOAD_RESUMES
        for _ in range(most):  # a session that makes no progress ends too
            started = time.monotonic()
            try:
                if offset is None:
                    offset = _next_range(self._raw("GET", upload_url), 0)
                chunk = content[offset:offset + UPLOAD_CHUNK]
                answer = self._raw("PUT", upload_url, chunk, {
                    "Content-Range": f"bytes {offset}-{offset + len(chunk) - 1}/{total}"})
            except GraphError as error:
                # Not 429: its Retry-After is the job's to honour, not ours to sleep on.
                # Nor a stall (slower than QUICK): the worker goes back to other work.
                if not error.retryable or error.status == 429 or resumes >= MAX_UPLOAD_RESUMES \
                        or time.monotonic() - started > QUICK:
                    raise
                resumes, offset = resumes + 1, None
                continue
            if "id" in answer:
                return answer
            offset = _next_range(answer, offset + len(chunk))
        raise GraphError("The upload session made no progress", status=0)

    def _item(self, drive_id: str, path: str) -> dict | None:
        """A drive item's metadata by path, or None."""
        url = self._by_path(drive_id, path)
        try:
            return self._json(lambda sdk: self._root(sdk, drive_id).with_url(url)
                              .to_get_request_information())
        except NotFound:
            return None

    def _raw(self, method: str, url: str, content: bytes | None = None,
             headers: dict[str, str] | None = None) -> dict:
        """A request to an absolute URL (an upload session), byte for byte as given."""
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation
        from kiota_http.middleware.options import ParametersNameDecodingHandlerOption

        def build(_sdk):
            info = RequestInformation(Method[method])
            info.url = url
            info.headers.try_add("Accept", "application/json")
            for key, value in (headers or {}).items():
                info.headers.try_add(key, value)
            if content is not None:
                info.set_stream_content(content, "application/octet-stream")
            # Upload URLs carry a signed query: Graph's middleware must not rewrite it.
            info.add_request_options([ParametersNameDecodingHandlerOption(enable=False)])
            return info

        return self._json(build)

    def get_file(self, drive_id: str, path: str) -> bytes:
        url = self._by_path(drive_id, path, "content")
        return self._call(lambda sdk: self._root(sdk, drive_id).content.with_url(url)
                          .to_get_request_information(), parse=False)

    # ---- team members, and requests that change nothing (the set-up check) ----------------

    def list_team_members(self, team_id: str) -> list[TeamMember]:
        def members(sdk):
            return sdk.teams.by_team_id(team_id).members

        return [TeamMember(user_id=str(raw.get("userId") or ""), email=raw.get("email") or "",
                           display_name=raw.get("displayName") or "",
                           roles=tuple(raw.get("roles") or ()))
                for page in self._pages(lambda sdk: members(sdk).to_get_request_information(),
                                        members)
                for raw in page.get("value", [])]

    def post_without_body(self, team_id: str, channel_id: str) -> ChannelMessage:
        from msgraph.generated.models.chat_message import ChatMessage

        return _message(self._json(lambda sdk: self._messages(sdk, team_id, channel_id)
                                   .to_post_request_information(ChatMessage())))

    def create_invalid_draft(self, sender: Sender) -> str:
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.internet_message_header import InternetMessageHeader
        from msgraph.generated.models.message import Message
        from msgraph.generated.models.recipient import Recipient

        message = Message(
            subject=PROBE_SUBJECT,
            to_recipients=[Recipient(email_address=EmailAddress(address=NOT_AN_ADDRESS))],
            internet_message_headers=[InternetMessageHeader(name=NOT_A_CUSTOM_HEADER,
                                                            value="never saved")])
        raw = self._json(lambda sdk: self._who(sdk, sender).messages
                         .to_post_request_information(message))
        return raw["id"]

    def start_upload_session(self, drive_id: str, folder: str, name: str) -> UploadSession:
        from msgraph.generated.drives.item.items.item.create_upload_session import (
            create_upload_session_post_request_body as module,
        )
        from msgraph.generated.models.drive_item_uploadable_properties import (
            DriveItemUploadableProperties,
        )

        path = f"{folder.strip('/')}/{name}" if folder.strip("/") else name
        body = module.CreateUploadSessionPostRequestBody(item=DriveItemUploadableProperties(
            additional_data={"@microsoft.graph.conflictBehavior": "fail"}))
        url = self._by_path(drive_id, path, "createUploadSession")
        raw = self._json(lambda sdk: self._root(sdk, drive_id).create_upload_session
                         .with_url(url).to_post_request_information(body))
        return UploadSession(upload_url=raw["uploadUrl"],
                             expires_at=_when(raw.get("expirationDateTime")))

    def cancel_upload_session(self, session: UploadSession) -> None:
        self._raw("DELETE", session.upload_url)

    # ---- the Teams activity feed -----------------------------------------------------------

    def send_activity_notification(self, user_id: str,
                                   notification: ActivityNotification) -> None:
        """https://learn.microsoft.com/graph/api/userteamwork-sendactivitynotification: a
        text topic with its Teams link, the manifest's activity type and its parameters."""
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.key_value_pair import KeyValuePair
        from msgraph.generated.models.teamwork_activity_topic import TeamworkActivityTopic
        from msgraph.generated.models.teamwork_activity_topic_source import (
            TeamworkActivityTopicSource,
        )
        from msgraph.generated.users.item.teamwork.send_activity_notification import (
            send_activity_notification_post_request_body as module,
        )

        body = module.SendActivityNotificationPostRequestBody(
            topic=TeamworkActivityTopic(source=TeamworkActivityTopicSource.Text,
                                        value=notification.topic_text,
                                        web_url=notification.web_url),
            activity_type=notification.activity_type,
            chain_id=notification.chain_id,
            preview_text=ItemBody(content=notification.preview),
            template_parameters=[KeyValuePair(name=name, value=value)
                                 for name, value in notification.parameters])
        try:
            self._json(lambda sdk: sdk.users.by_user_id(user_id).teamwork
                       .send_activity_notification.to_post_request_information(body))
        except GraphError as error:
            if error.status == 403 and _app_not_installed(error):
                raise AppNotInstalled(error.message, status=403, code=error.code) from error
            raise


def _app_not_installed(error: GraphError) -> bool:
    """Graph's refusal for a recipient without the Teams app, as Teams words it ("...
    is not authorized to generate custom text notifications ... Ensure that the expected
    Teams app is installed in the target scope"), as opposed to a missing permission
    ("Missing role permissions on the request ...")."""
    text = error.message.lower()
    return "custom text notifications" in text or "app is installed in the target scope" in text
