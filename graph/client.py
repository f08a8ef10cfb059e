"""`Graph` implemented with the official msgraph-sdk, over real HTTP.

- The SDK is async; jobs are sync. One event loop thread per process runs every call
  (an SDK client reused across `asyncio.run` calls fails with "Event loop is closed").
  It is started lazily and again after a fork, and one httpx client per base URL is
  shared on it.
- The SDK's retry middleware is turned off: a hidden retry that sleeps for Retry-After
  would hold a worker, and our outbox owns retries, backoff and idempotency.
- msgraph is imported lazily: it is large and the web process rarely needs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from graph.port import (
    CARD_CONTENT_TYPE,
    MAX_MAIL_RECIPIENTS,
    Card,
    Channel,
    ChannelMessage,
    Conflict,
    DriveFile,
    Event,
    EventRequest,
    GraphError,
    InvalidRequest,
    ListItem,
    Mail,
    Meeting,
    NotFound,
    Sender,
)

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_http_clients: dict[tuple[str, float], object] = {}


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            _http_clients.clear()
            threading.Thread(target=_loop.run_forever, name="graph-loop", daemon=True).start()
        return _loop


def _http_client(base_url: str, timeout: float):
    """One httpx client (with Graph's middleware, minus retries) per URL and timeout."""
    client = _http_clients.get((base_url, timeout))
    if client is None:
        import httpx
        from kiota_http.middleware.options import RetryHandlerOption
        from msgraph.graph_request_adapter import options as graph_options
        from msgraph_core import GraphClientFactory

        options = dict(graph_options)
        options[RetryHandlerOption.get_key()] = RetryHandlerOption(max_retries=0,
                                                                  should_retry=False)
        client = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(timeout=timeout, follow_redirects=True), options=options)
        _http_clients[(base_url, timeout)] = client
    return client


def _error(exc: Exception) -> GraphError:
    """Our error for whatever the SDK or the network raised."""
    import httpx
    from kiota_abstractions.api_error import APIError

    if isinstance(exc, GraphError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return GraphError(f"timed out: {exc!r}", status=0)
    if isinstance(exc, httpx.TransportError):
        return GraphError(f"connection failed: {exc!r}", status=0)
    if isinstance(exc, APIError):
        status = exc.response_status_code or 0
        code, message = "", str(exc.message or exc)
        detail = getattr(exc, "error", None)
        if detail is not None:
            code, message = detail.code or "", detail.message or message
        headers = {k.lower(): v for k, v in (exc.response_headers or {}).items()}
        retry_after = headers.get("retry-after")
        if isinstance(retry_after, (list, set, tuple)):
            retry_after = next(iter(retry_after), None)
        retry = float(retry_after) if retry_after not in (None, "") else None
        kind = GraphError
        if status == 404:
            kind = NotFound
        elif status == 409 or code.lower() == "namealreadyexists":
            kind = Conflict
        elif status in (400, 413):
            kind = InvalidRequest
        return kind(message, status=status, code=code, retry_after=retry)
    raise exc


class GraphClient:
    def __init__(self, base_url: str, token: Callable[[], str], timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._client = None

    # ---- plumbing ----------------------------------------------------------------------

    def _run(self, make_coroutine):
        async def call():
            try:
                return await make_coroutine(self._sdk())
            except Exception as exc:
                raise _error(exc) from exc

        future = asyncio.run_coroutine_threadsafe(call(), _event_loop())
        return future.result(self._timeout + 5)

    def _sdk(self):
        if self._client is None:
            from kiota_abstractions.authentication import (
                AccessTokenProvider,
                AllowedHostsValidator,
                BaseBearerTokenAuthenticationProvider,
            )
            from msgraph import GraphRequestAdapter, GraphServiceClient

            token, host = self._token, urlsplit(self.base_url).hostname

            class Provider(AccessTokenProvider):
                async def get_authorization_token(self, uri, additional_authentication_context=None):  # noqa: E501
                    return token()

                def get_allowed_hosts_validator(self):
                    return AllowedHostsValidator([host])

            adapter = GraphRequestAdapter(
                BaseBearerTokenAuthenticationProvider(Provider()),
                client=_http_client(self.base_url, self._timeout))
            adapter.base_url = self.base_url
            self._client = GraphServiceClient(request_adapter=adapter)
        return self._client

    def _who(self, sdk, sender: Sender):
        return sdk.me if sender.user_id is None else sdk.users.by_user_id(sender.user_id)

    # ---- Teams -------------------------------------------------------------------------

    @staticmethod
    def _channel(team_id: str, raw) -> Channel:
        return Channel(id=raw.id, team_id=team_id, display_name=raw.display_name or "",
                       web_url=raw.web_url or "", description=raw.description or "")

    def create_channel(self, team_id: str, display_name: str, description: str = "") -> Channel:
        from msgraph.generated.models.channel import Channel as SdkChannel
        from msgraph.generated.models.channel_membership_type import ChannelMembershipType

        body = SdkChannel(display_name=display_name, description=description,
                          membership_type=ChannelMembershipType.Standard)
        raw = self._run(lambda sdk: sdk.teams.by_team_id(team_id).channels.post(body))
        return self._channel(team_id, raw)

    def find_channel(self, team_id: str, display_name: str) -> Channel | None:
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        async def find(sdk):
            builder = sdk.teams.by_team_id(team_id).channels
            config = RequestConfiguration(
                query_parameters=builder.ChannelsRequestBuilderGetQueryParameters(
                    filter=f"displayName eq '{display_name.replace(chr(39), chr(39) * 2)}'"))
            return await builder.get(request_configuration=config)

        page = self._run(find)
        for raw in (page.value or []) if page else []:
            if (raw.display_name or "").lower() == display_name.lower():
                return self._channel(team_id, raw)
        return None

    @staticmethod
    def _message_body(html: str, cards: Sequence[Card]):
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.chat_message import ChatMessage
        from msgraph.generated.models.chat_message_attachment import ChatMessageAttachment
        from msgraph.generated.models.item_body import ItemBody

        content = html + "".join(f'<attachment id="{c.attachment_id}"></attachment>'
                                 for c in cards)
        return ChatMessage(
            body=ItemBody(content_type=BodyType.Html, content=content),
            attachments=[ChatMessageAttachment(id=c.attachment_id,
                                               content_type=CARD_CONTENT_TYPE,
                                               content=json.dumps(c.content))
                         for c in cards])

    @staticmethod
    def _message(raw) -> ChannelMessage:
        sender = ""
        if raw.from_ and raw.from_.user:
            sender = raw.from_.user.display_name or ""
        return ChannelMessage(
            id=raw.id, html=raw.body.content if raw.body else "", web_url=raw.web_url or "",
            created_at=raw.created_date_time, sender_name=sender,
            attachment_ids=tuple(a.id for a in raw.attachments or []),
            reply_to_id=raw.reply_to_id)

    def post_message(self, team_id: str, channel_id: str, html: str,
                     cards: Sequence[Card] = ()) -> ChannelMessage:
        body = self._message_body(html, cards)
        raw = self._run(lambda sdk: sdk.teams.by_team_id(team_id).channels.by_channel_id(
            channel_id).messages.post(body))
        return self._message(raw)

    def reply(self, team_id: str, channel_id: str, message_id: str, html: str,
              cards: Sequence[Card] = ()) -> ChannelMessage:
        body = self._message_body(html, cards)
        raw = self._run(lambda sdk: sdk.teams.by_team_id(team_id).channels.by_channel_id(
            channel_id).messages.by_chat_message_id(message_id).replies.post(body))
        return self._message(raw)

    def _recent(self, team_id, channel_id, reply_to_id=None):
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        async def get(sdk):
            messages = sdk.teams.by_team_id(team_id).channels.by_channel_id(channel_id).messages
            if reply_to_id is None:
                config = RequestConfiguration(
                    query_parameters=messages.MessagesRequestBuilderGetQueryParameters(top=50))
                return await messages.get(request_configuration=config)
            return await messages.by_chat_message_id(reply_to_id).replies.get()

        page = self._run(get)
        return [self._message(raw) for raw in (page.value or [])] if page else []

    def find_message(self, team_id: str, channel_id: str, attachment_id: str,
                     reply_to_id: str | None = None) -> ChannelMessage | None:
        for message in self._recent(team_id, channel_id, reply_to_id):
            if attachment_id in message.attachment_ids:
                return message
        return None

    def channel_messages(self, team_id: str, channel_id: str,
                         since: datetime | None = None) -> Iterator[ChannelMessage]:
        from msgraph.generated.teams.item.channels.item.messages.messages_request_builder import (
            MessagesRequestBuilder,
        )

        builder = None
        while True:
            def get(sdk, builder=builder):
                target = builder or sdk.teams.by_team_id(team_id).channels.by_channel_id(
                    channel_id).messages
                return target.get()

            page = self._run(get)
            for raw in page.value or []:
                message = self._message(raw)
                if since is not None and message.created_at and message.created_at < since:
                    return
                yield message
            if not page.odata_next_link:
                return
            next_link = page.odata_next_link
            builder = MessagesRequestBuilder(self._sdk().request_adapter, next_link)

    def add_team_member(self, team_id: str, user_id: str, owner: bool = False) -> None:
        from msgraph.generated.models.aad_user_conversation_member import (
            AadUserConversationMember,
        )

        member = AadUserConversationMember(
            roles=["owner"] if owner else [],
            additional_data={"user@odata.bind":
                             f"https://graph.microsoft.com/v1.0/users('{user_id}')"})
        try:
            self._run(lambda sdk: sdk.teams.by_team_id(team_id).members.post(member))
        except Conflict:
            return  # already a member

    # ---- Outlook -----------------------------------------------------------------------

    @staticmethod
    def _sdk_message(mail: Mail):
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.internet_message_header import InternetMessageHeader
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.message import Message
        from msgraph.generated.models.recipient import Recipient

        if mail.recipient_count > MAX_MAIL_RECIPIENTS:
            raise InvalidRequest(f"{mail.recipient_count} recipients: split into messages of "
                                 f"{MAX_MAIL_RECIPIENTS} or fewer.", status=400)

        def people(addresses):
            return [Recipient(email_address=EmailAddress(address=a)) for a in addresses]

        headers = [InternetMessageHeader(name="x-incident-desk-delivery",
                                         value=mail.delivery_key)] if mail.delivery_key else None
        return Message(subject=mail.subject,
                       body=ItemBody(content_type=BodyType.Html, content=mail.html_body),
                       to_recipients=people(mail.to), cc_recipients=people(mail.cc),
                       bcc_recipients=people(mail.bcc), reply_to=people(mail.reply_to),
                       internet_message_headers=headers)

    def create_draft(self, sender: Sender, mail: Mail) -> str:
        message = self._sdk_message(mail)
        raw = self._run(lambda sdk: self._who(sdk, sender).messages.post(message))
        return raw.id

    def send_draft(self, sender: Sender, draft_id: str) -> None:
        self._run(lambda sdk: self._who(sdk, sender).messages.by_message_id(
            draft_id).send.post())

    def send_mail(self, sender: Sender, mail: Mail) -> None:
        from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
            SendMailPostRequestBody,
        )

        body = SendMailPostRequestBody(message=self._sdk_message(mail), save_to_sent_items=True)
        self._run(lambda sdk: self._who(sdk, sender).send_mail.post(body))

    def create_event(self, sender: Sender, request: EventRequest) -> Event:
        from msgraph.generated.models.attendee import Attendee
        from msgraph.generated.models.attendee_type import AttendeeType
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.event import Event as SdkEvent
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.online_meeting_provider_type import (
            OnlineMeetingProviderType,
        )

        def when(value: datetime):
            return DateTimeTimeZone(date_time=value.astimezone(UTC).replace(tzinfo=None)
                                    .isoformat(), time_zone="UTC")

        body = SdkEvent(
            subject=request.subject, start=when(request.start), end=when(request.end),
            body=ItemBody(content_type=BodyType.Html, content=request.body_html),
            attendees=[Attendee(email_address=EmailAddress(address=a.email, name=a.name),
                                type=AttendeeType.Required if a.required
                                else AttendeeType.Optional) for a in request.attendees],
            is_online_meeting=request.online_meeting,
            online_meeting_provider=OnlineMeetingProviderType.TeamsForBusiness
            if request.online_meeting else None,
            transaction_id=request.transaction_id or None,
            categories=list(request.categories) or None)
        raw = self._run(lambda sdk: self._who(sdk, sender).events.post(body))
        join = raw.online_meeting.join_url if raw.online_meeting else ""
        return Event(id=raw.id, web_url=raw.web_link or "", subject=raw.subject or "",
                     join_url=join or "")

    def create_online_meeting(self, sender: Sender, subject: str, start: datetime,
                              end: datetime, external_id: str) -> Meeting:
        from msgraph.generated.users.item.online_meetings.create_or_get.create_or_get_post_request_body import (  # noqa: E501
            CreateOrGetPostRequestBody,
        )

        body = CreateOrGetPostRequestBody(external_id=external_id, subject=subject,
                                          start_date_time=start, end_date_time=end)
        raw = self._run(lambda sdk: self._who(sdk, sender).online_meetings.create_or_get.post(
            body))
        return Meeting(id=raw.id, join_url=raw.join_web_url or "", subject=raw.subject or "")

    # ---- SharePoint --------------------------------------------------------------------

    def _get_json(self, url: str) -> dict:
        """GET a URL and parse the JSON ourselves: kiota's model parsing takes ~20 ms an
        item, so a 10,000-row list would take minutes; raw JSON takes milliseconds."""
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        async def get(sdk):
            info = RequestInformation(Method.GET, url)
            info.headers.try_add("Accept", "application/json")
            raw = await sdk.request_adapter.send_primitive_async(
                info, "bytes", {"XXX": ODataError})
            return json.loads(raw or b"{}")

        return self._run(get)

    def list_items(self, site_id: str, list_id: str, page_size: int = 200
                   ) -> Iterator[ListItem]:
        url = (f"{self.base_url}/sites/{quote(site_id, safe='')}/lists/"
               f"{quote(list_id, safe='')}/items?$expand=fields&$top={page_size}")
        while url:
            page = self._get_json(url)
            for raw in page.get("value", []):
                yield ListItem(id=str(raw.get("id")), fields=dict(raw.get("fields") or {}),
                               etag=raw.get("eTag") or "")
            url = page.get("@odata.nextLink")

    def _item_url(self, drive_id: str, path: str, suffix: str) -> str:
        return (f"{self.base_url}/drives/{quote(drive_id, safe='')}/items/root:/"
                f"{quote(path.strip('/'))}:/{suffix}")

    def upload_file(self, drive_id: str, folder: str, name: str, content: bytes,
                    replace: bool = True) -> DriveFile:
        from msgraph.generated.drives.item.items.item.content.content_request_builder import (
            ContentRequestBuilder,
        )

        path = f"{folder.strip('/')}/{name}" if folder.strip("/") else name
        behaviour = "replace" if replace else "fail"
        url = self._item_url(drive_id, path, "content") + \
            f"?@microsoft.graph.conflictBehavior={behaviour}"
        raw = self._run(lambda sdk: ContentRequestBuilder(sdk.request_adapter, url).put(content))
        return DriveFile(id=raw.id, name=raw.name or name, web_url=raw.web_url or "",
                         size=raw.size or len(content), etag=raw.e_tag or "")

    def get_file(self, drive_id: str, path: str) -> bytes:
        from msgraph.generated.drives.item.items.item.content.content_request_builder import (
            ContentRequestBuilder,
        )

        url = self._item_url(drive_id, path, "content")
        return self._run(lambda sdk: ContentRequestBuilder(sdk.request_adapter, url).get())
