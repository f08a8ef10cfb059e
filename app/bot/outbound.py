"""The bot posting into a channel of a team the app is installed in: a new thread, as
Microsoft documents proactive channel messages (`POST {serviceUrl}/v3/conversations`
with isGroup, channelData.channel.id and the first activity:
https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/send-proactive-messages),
through the Agents SDK's connector client with the bot's own token (MSAL, adapter.py).
Nobody's sign-in is needed. This is app.m365's BotPoster (app/m365/bot_posts.py), wired
in by app/jobs.py.

The connector's answers, as documented for bots
(https://learn.microsoft.com/microsoftteams/platform/bots/build-conversational-capability#status-codes-from-bot-conversational-apis):
403 / 404 (the bot is not in the conversation's roster, or the conversation is gone): the
app has left the team, so its installation is marked removed and the post goes the Graph
way (BotGone); 429 and 5xx are retried by the outbox, after Retry-After; no answer is
status 0, which may have posted, so the outbox looks for it before sending again.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote

import aiohttp
from flask import Flask
from microsoft_agents.activity import Activity, ConversationParameters
from microsoft_agents.hosting.core.connector.client import ConnectorClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.bot import connector_runtime, installations, live_cards, sdk_user_agent
from app.bot.adapter import auth_for
from app.bot.identity import BotIdentity, identity_for
from app.bot.models import BotInstallation
from app.m365.bot_posts import BotGone, BotPost, Posted
from graph.port import CARD_CONTENT_TYPE, CardMarker, GraphError, InvalidRequest

log = logging.getLogger(__name__)
CONNECTOR_RESOURCE = "https://api.botframework.com"
CONNECTOR_SCOPE = f"{CONNECTOR_RESOURCE}/.default"
# Where live_cards.actionable puts the delivery key: a repeat is recognised by it.
MARKER_PATH = ("refresh", "action", "data", "delivery_key")


def warm(app: Flask) -> threading.Thread | None:
    """In a new worker process, before its first job: the bot's token from Entra (MSAL's
    tenant discovery, then the token, which this process keeps until near expiry) and
    the connector's event loop, so the first card a worker posts does not wait for them.
    In the background: a worker with Entra out of reach still starts at once."""
    identity = identity_for(app)
    if identity is None:
        return None

    def fetch() -> None:
        try:
            connector_runtime.run(lambda: auth_for(identity).get_access_token(
                CONNECTOR_RESOURCE, [CONNECTOR_SCOPE]))
        except Exception as error:  # the first send asks again, and says why it cannot
            log.info("bot: no token ahead of the first send (%s)", type(error).__name__)

    sdk_user_agent.install()
    helper = threading.Thread(target=fetch, name="bot-warm", daemon=True)
    helper.start()
    return helper


async def _with_client(identity: BotIdentity, service_url: str, call):
    """`call(client)` on a connector client with the bot's token, on the process's open
    session to that connector; no token from Entra is a retryable GraphError."""
    try:
        token = await auth_for(identity).get_access_token(CONNECTOR_RESOURCE,
                                                       [CONNECTOR_SCOPE])
    except ValueError as error:  # MSAL's answer had no token (Entra down, or refused)
        raise GraphError("The bot could not get its Bot Connector token from Entra "
                         "(check BOT_APP_ID, BOT_APP_PASSWORD and BOT_TENANT_ID); "
                         "trying again shortly.", status=503, code="BotToken") from error
    sdk_user_agent.install()
    session = connector_runtime.session(service_url, identity.app_id)  # kept open
    return await call(ConnectorClient(service_url, token, session=session))


def _retry_after(headers) -> float | None:
    value = (headers or {}).get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ConnectorPoster:
    """app.m365.bot_posts.BotPoster over the Bot Connector."""

    def __init__(self, app: Flask):
        self.app = app

    def _identity(self) -> BotIdentity | None:
        return identity_for(self.app)

    def installation(self, session: Session, team_id: str) -> BotInstallation | None:
        """The team's active installation; in the built-in sandbox, the app comes
        installed in the sandbox's team (graph/sandbox/seed.py), so its first use there
        records it as Teams' installationUpdate would have."""
        row = session.get(BotInstallation, team_id)
        if row is None:
            row = self._sandbox_installation(session, team_id)
        return row if row is not None and row.active else None

    def _sandbox_installation(self, session: Session, team_id: str) -> BotInstallation | None:
        identity = self._identity()
        if identity is None or not self._built_in_sandbox():
            return None
        from app.m365.sandbox_host import state_for
        from graph.sandbox import teams_apps
        from graph.sandbox.wire import TENANT_ID

        state = state_for(self.app.extensions["settings"].graph_sandbox_db)
        with state.read() as tx:
            found = teams_apps.installation(tx, team_id)
            thread = teams_apps.general_channel(tx, team_id) if found else ""
        if found is None or found.get("bot_id") != identity.app_id:
            return None
        try:
            with session.begin_nested():  # another worker may be recording it too
                session.add(BotInstallation(team_id=team_id, thread_id=thread,
                                            tenant_id=TENANT_ID,
                                            service_url=self._sandbox_url()))
        except IntegrityError:
            pass
        return session.get(BotInstallation, team_id)

    def _built_in_sandbox(self) -> bool:
        settings = self.app.extensions["settings"]
        return not settings.bot_tenant_id and not settings.entra_tenant_id

    def _sandbox_url(self) -> str:
        from app.m365.sandbox_host import sandbox_for

        return f"{sandbox_for(self.app).url}/"

    def can_post(self, session: Session, team_id: str) -> bool:
        return self._identity() is not None and self.installation(session, team_id) is not None

    def marker(self, key: str) -> CardMarker:
        return CardMarker(MARKER_PATH, key)

    def post(self, session: Session, post: BotPost) -> Posted:
        identity = self._identity()
        row = self.installation(session, post.team_id)
        if identity is None or row is None:
            raise BotGone("The Teams app is not installed in this team.")
        # Each process of the built-in sandbox serves its connector on its own port.
        service_url = self._sandbox_url() if self._built_in_sandbox() else row.service_url
        card = live_cards.actionable(session, post.card, kind=post.kind,
                                     incident_id=post.incident_id, key=post.key)
        tenant = row.tenant_id or identity.tenant_id
        parameters = ConversationParameters(
            is_group=True, tenant_id=tenant,
            channel_data={"channel": {"id": post.channel_id}, "tenant": {"id": tenant}},
            # The summary as the Graph path has it above the card; Teams reads a bot's
            # text as its HTML subset with textFormat "xml".
            activity=Activity(type="message", text=post.html or None,
                              text_format="xml" if post.html else None, attachments=[
                {"contentType": CARD_CONTENT_TYPE, "content": card}]))
        try:
            answer = connector_runtime.run(lambda: self._create(identity, service_url, parameters))
        except aiohttp.ClientResponseError as error:
            self._refused(session, row, error)
            raise AssertionError("unreachable") from error
        except (TimeoutError, aiohttp.ClientError) as error:
            raise GraphError(f"The Bot Connector did not answer ({type(error).__name__}); "
                             "the post may have been made.", status=0) from error
        message_id = answer.activity_id or (answer.id or "").rpartition("=")[2]
        return Posted(message_id, _message_link(post, message_id, row.tenant_id))

    @staticmethod
    async def _create(identity: BotIdentity, service_url: str, parameters):
        return await _with_client(identity, service_url, lambda client:
                                  client.conversations.create_conversation(parameters))

    def update(self, service_url: str, conversation_id: str, activity_id: str,
               activity: Activity) -> None:
        """Replace a message the bot posted (its card brought up to date). Raises
        GraphError (retryable) or InvalidRequest: the message or the app is gone."""
        identity = self._identity()
        if identity is None:
            raise InvalidRequest("The Teams bot is not set up any more.", status=404,
                                 code="BotNotSetUp")
        if self._built_in_sandbox():
            service_url = self._sandbox_url()
        try:
            connector_runtime.run(lambda: self._update(identity, service_url, conversation_id,
                                                       activity_id, activity))
        except aiohttp.ClientResponseError as error:
            status, retry_after = error.status, _retry_after(error.headers)
            if status == 429 or status >= 500:
                raise GraphError("The Bot Connector is busy or failing; trying again "
                                 "shortly.", status=status, code="BotConnector",
                                 retry_after=retry_after) from error
            raise InvalidRequest(f"The Bot Connector refused to update the card ({status}): "
                                 "the message or the app is no longer there.",
                                 status=status, code="BotConnector") from error
        except (TimeoutError, aiohttp.ClientError) as error:
            raise GraphError(f"The Bot Connector did not answer ({type(error).__name__}).",
                             status=0) from error

    @staticmethod
    async def _update(identity: BotIdentity, service_url: str, conversation_id: str,
                      activity_id: str, activity: Activity):
        return await _with_client(identity, service_url, lambda client:
                                  client.conversations.update_activity(
                                      conversation_id, activity_id, activity))

    @staticmethod
    def _refused(session: Session, row: BotInstallation, error) -> None:
        """Raise what the connector's refusal means for the outbox."""
        status, retry_after = error.status, _retry_after(error.headers)
        if status in (403, 404):
            installations.mark_removed(session, row.team_id, installations.NOT_IN_ROSTER)
            raise BotGone(f"The Bot Connector refused the post ({status}): the app is no "
                          "longer in the team.")
        if status == 429 or status >= 500:
            raise GraphError("The Bot Connector is busy or failing; trying again shortly.",
                             status=status, code="BotConnector", retry_after=retry_after)
        if status == 401:
            raise InvalidRequest("The Bot Connector refused the bot's token: check "
                                 "BOT_APP_ID, BOT_APP_PASSWORD and BOT_TENANT_ID.",
                                 status=401, code="Unauthorized")
        raise InvalidRequest(f"The Bot Connector refused the post ({status}).",
                             status=status, code="BotConnector")


def _message_link(post: BotPost, message_id: str, tenant_id: str) -> str:
    """Teams' link to the new thread (as Graph's webUrl for a channel message)."""
    return (f"https://teams.microsoft.com/l/message/{quote(post.channel_id, safe='')}/"
            f"{message_id}?groupId={quote(post.team_id)}&tenantId={quote(tenant_id)}"
            f"&parentMessageId={message_id}")
