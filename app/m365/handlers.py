"""Doing each kind of outbox work against Graph, safely repeatable.

Every handler can be run again after a crash or a lost response without doing the work
twice: it first looks for what an earlier attempt left (attempt.ambiguous), using our
own idempotency keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from itertools import islice

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.core import clock
from app.documents.service import WRITE_KIND
from app.incidents import timeline
from app.incidents.events import Changed
from app.incidents.models import Participant, TimelineEntry
from app.m365 import lifecycle, plans, tab_pins
from app.m365.bot_posts import BotGone, BotPost, BotPoster
from app.m365.models import TeamsChannel
from app.m365.report_handler import WriteReport
from app.m365.send_mail import SendMail
from app.m365.teams_import import MAX_MESSAGES, store
from app.outbox.models import Delivery
from app.outbox.runner import Attempt, NothingToDo
from graph.names import channel_name
from graph.port import (
    Attendee,
    Card,
    Channel,
    ChannelMessage,
    Conflict,
    EventRequest,
    Graph,
    GraphError,
    InvalidRequest,
    Sender,
    StillRunning,
    Unconfirmed,
)


def attachment_id(key: str) -> str:
    """A stable card attachment id per delivery, so a retry can find an earlier post."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"incident-desk:{key}"))


# A name Teams refuses but does not list may be this delivery's own channel, made by an
# attempt whose answer was lost and not listed yet; after this long it is someone else's
# (a deleted channel's name stays reserved for 30 days; a private channel is listed only
# to its members).
UNLISTED_GRACE = timedelta(minutes=2)
# "The member might not be visible for a while": https://learn.microsoft.com/graph/api/
# team-post-members. Refusals about someone just added are retried this long.
PROPAGATION_GRACE = timedelta(minutes=15)
MAX_NAMES = 8  # names tried in one attempt before giving up on this one


class CreateChannel:
    """The incident's own channel, named from reference, date and title.

    The first attempt just creates it (no listing, no checkpoint on the critical path).
    A name Teams refuses is learnt as reserved and the next free one is tried; a later
    attempt knows the first name any attempt sends (nothing is reserved yet: it is
    always the same), and every other name sent is saved first, so it knows which
    refusals may be its own channel."""

    paces_itself = True  # books its turn after saving the name it tries (runner.Attempt)

    def __init__(self, pins: tab_pins.TabPins | None = None):
        # With `pins` (app/jobs.py), the new channel gets the incident's tab as a follow-up
        # delivery where the Teams app is installed (app/m365/tab_pins.py).
        self.pins = pins

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        p = attempt.delivery.payload
        team, day, reference = p["team_id"], date.fromisoformat(p["day"]), p["reference"]
        progress = attempt.delivery.progress
        first = channel_name(day, p["title"], taken=lambda _name: False, reference=reference)
        again = attempt.ambiguous or attempt.delivery.attempts > 1
        tried = list(progress.get("tried_names", []))
        earlier = {n.lower() for n in tried} | ({first.lower()} if again else set())
        reserved = {n.lower() for n in progress.get("reserved_names", [])}
        look = bool(earlier) or attempt.ambiguous
        found: list[Channel] = []

        def taken(name: str) -> bool:
            if name.lower() in reserved:
                return True
            if not look:
                return False
            existing = graph.find_channel(team, name)
            if existing is not None and existing.description.startswith(f"{reference}:"):
                found.append(existing)
                return False
            return existing is not None

        for _ in range(MAX_NAMES):
            found.clear()
            name = channel_name(day, p["title"], taken=taken, reference=reference)
            if found and found[-1].display_name.lower() == name.lower():
                return _channel_result(found[-1])
            if name.lower() not in {t.lower() for t in tried} | {first.lower()}:
                tried.append(name)
                attempt.checkpoint(tried_names=tried)
            try:
                return _channel_result(self._create(graph, attempt, team, name))
            except Conflict as conflict:
                if name.lower() in earlier and \
                        clock.now() - attempt.delivery.created_at < UNLISTED_GRACE:
                    raise GraphError(
                        f"Teams says {name} is taken but does not list it yet: it may be "
                        "this incident's channel from an earlier attempt. Looking again "
                        "shortly.", status=503, code=conflict.code, retry_after=15) from None
                reserved.add(name.lower())
                attempt.checkpoint(reserved_names=sorted(reserved))
                look = True
        raise InvalidRequest(f"Teams refused {MAX_NAMES} names for this incident's channel "
                             f"({', '.join(tried[-3:])}, ...) as taken.", status=409)

    @staticmethod
    def _create(graph: Graph, attempt: Attempt, team: str, name: str) -> Channel:
        p = attempt.delivery.payload
        attempt.pace()  # after the name's checkpoint: its commit cannot make this late
        try:
            return graph.create_channel(team, name, p["description"],
                                        private_owner=p.get("private_owner"),
                                        co_owners=p.get("co_owners", ()))
        except InvalidRequest as error:
            raise_if_propagating(attempt, error)
            raise

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        existing = session.get(TeamsChannel, delivery.incident_id)
        if existing is None:
            session.add(TeamsChannel(incident_id=delivery.incident_id, team_id=result["team_id"],
                                     channel_id=result["channel_id"], name=result["name"],
                                     web_url=result["web_url"], created_at=clock.now()))
        private = result.get("membership_type") == "private"
        _timeline(session, delivery, "teams_channel",
                  f"{'Private ' if private else ''}Teams channel created: {result['name']}",
                  {"web_url": result["web_url"]})
        if private:
            _add_participants(session, delivery, result)
        if self.pins is not None:
            self.pins.plan(session, delivery, result)


def _add_participants(session: Session, delivery: Delivery, result: dict) -> None:
    """People brought into a security incident before its private channel existed."""


    if not has_app_context():
        return
    installation = current_app.extensions["installation"]
    owner = delivery.payload.get("private_owner")
    for participant in session.scalars(select(Participant).where(
            Participant.incident_id == delivery.incident_id)):
        if participant.user.entra_oid != owner:
            plans.channel_member(session, installation, delivery.incident, delivery.actor,
                                 participant.user, result["team_id"], result["channel_id"])


def raise_if_propagating(attempt: Attempt, error: InvalidRequest) -> None:
    """Teams refusing someone this delivery's prerequisite has just added to the team is
    Teams catching up, not a fault: try again shortly, for a while."""
    prerequisite = attempt.delivery.depends_on
    added = prerequisite.delivered_at if prerequisite is not None and \
        prerequisite.kind == plans.ADD_MEMBER else None
    if added is None or clock.now() - added > PROPAGATION_GRACE:
        return
    if "team" not in error.message.lower():
        return
    raise GraphError(f"Teams has not finished adding them to the team ({error.message}); "
                     "trying again shortly.", status=503, code=error.code,
                     retry_after=5) from error


def _channel_result(channel: Channel) -> dict:
    return {"team_id": channel.team_id, "channel_id": channel.id,
            "name": channel.display_name, "web_url": channel.web_url,
            "membership_type": channel.membership_type}


class PostToChannel:
    """A card (with a short HTML summary) in the incident's channel or another one: sent
    by the Teams app's bot where the app is installed in the team (`bot`, given by
    app/jobs.py), needing nobody's token, else through Graph as a person. A private
    channel (a security incident's) stays on Graph for now (app/m365/tab_pins.py: why,
    and what the incident page says about it).

    Exactly once on both paths: an attempt that may have posted (attempt.ambiguous) is
    looked for on each path tried (`tried_via` in its progress, saved before a bot send;
    none saved means Graph) before anything is sent again: a Graph post by its card's
    attachment id, a bot's by the marker its card carries (the Bot Connector cannot list
    activities), through Graph with the app's own token (`app_graph`), which the
    team-scoped ChannelMessage.Read.Group of the installed app allows."""

    paces_itself = True  # books its turn after looking for an earlier post

    def __init__(self, bot: BotPoster | None = None,
                 app_graph: Callable[[], Graph] | None = None):
        self.bot, self.app_graph = bot, app_graph

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        delivery = attempt.delivery
        p = delivery.payload
        team, channel = self._where(attempt)
        content = dict(p["card"])
        if p.get("link_incident_channel") and delivery.depends_on is not None:
            web_url = delivery.depends_on.result.get("web_url")
            if web_url:
                content["actions"] = [*content.get("actions", []),
                                      {"type": "Action.OpenUrl", "title": "Open the channel",
                                       "url": web_url}]
        card_id = attachment_id(delivery.key)
        recorded = delivery.progress.get(TRIED_VIA)
        tried = list(recorded) if recorded is not None else (
            [GRAPH] if attempt.ambiguous or delivery.attempts > 1 else [])
        if attempt.ambiguous:
            earlier = self._earlier(graph, delivery, team, channel, card_id, tried)
            if earlier is not None:
                return earlier
        session = object_session(delivery)
        if self._by_bot(session, attempt, team):
            if BOT not in tried:
                tried.append(BOT)
                attempt.checkpoint(**{TRIED_VIA: tried})  # before a send that may land
            attempt.pace()
            try:
                posted = self.bot.post(session, BotPost(
                    team, channel, content, p.get("card_kind") or "notice",
                    delivery.incident_id, delivery.key, p.get("html") or ""))
            except BotGone:
                pass  # its installation is marked removed: the Graph way, now
            else:
                return {"message_id": posted.message_id, "web_url": posted.web_url,
                        "channel_id": channel, "via": BOT}
        if recorded is not None or BOT in tried:
            if GRAPH not in tried:
                tried.append(GRAPH)
            attempt.checkpoint(**{TRIED_VIA: tried})
        attempt.pace()  # after any look-up: a slow one cannot make the post late for its slot
        message = graph.post_message(team, channel, p["html"], cards=[Card(card_id, content)])
        return {"message_id": message.id, "web_url": message.web_url, "channel_id": channel,
                "via": GRAPH}

    def _by_bot(self, session: Session | None, attempt: Attempt, team: str) -> bool:
        if self.bot is None or session is None or self._private(attempt.delivery):
            return False
        return self.bot.can_post(session, team)

    def bot_team(self, session: Session, delivery: Delivery) -> str | None:
        """The team this post would go to as the bot, or None (the Graph way)."""
        if self.bot is None or self._private(delivery):
            return None
        try:
            team, _channel = self._where_of(delivery)
        except InvalidRequest:
            return None
        return team if self.bot.can_post(session, team) else None

    @staticmethod
    def _private(delivery: Delivery) -> bool:
        """A security incident's channel is private: how bots may post in private
        channels has changed over time, so these stay on the delegated path."""
        if delivery.payload.get("channel") != "incident":
            return False
        prerequisite = delivery.depends_on
        return bool(getattr(delivery.incident, "is_security", False)) or (
            prerequisite is not None
            and (prerequisite.result or {}).get("membership_type") == "private")

    def _earlier(self, graph: Graph, delivery: Delivery, team: str, channel: str,
                 card_id: str, tried: list[str]) -> dict | None:
        """The post an earlier attempt made, on the paths it may have taken (latest
        first), or None."""
        since = delivery.created_at - timedelta(minutes=5)  # allow for clock skew
        for via in reversed(tried):
            if via == BOT and self.bot is not None:
                found = self._bot_post(graph, team, channel, self.bot.marker(delivery.key),
                                       since)
            elif via == GRAPH:
                found = graph.find_message(team, channel, card_id, since=since)
            else:
                continue
            if found is not None:
                return {"message_id": found.id, "web_url": found.web_url,
                        "channel_id": channel, "found_earlier": True, "via": via}
        return None

    def _bot_post(self, graph: Graph, team: str, channel: str, marker, since):
        """The bot's post, read with the app's own token (the installed app's RSC); if
        the app has left the team since (403: no RSC), as the person instead."""
        if self.app_graph is not None:
            try:
                return self.app_graph().find_card_message(team, channel, marker, since=since)
            except GraphError as error:
                if error.status != 403:
                    raise
        return graph.find_card_message(team, channel, marker, since=since)

    def _where(self, attempt: Attempt) -> tuple[str, str]:
        return self._where_of(attempt.delivery)

    @staticmethod
    def _where_of(delivery: Delivery) -> tuple[str, str]:
        p = delivery.payload
        if p.get("channel") == "incident":
            prerequisite = delivery.depends_on
            if prerequisite is not None and prerequisite.result.get("channel_id"):
                return prerequisite.result["team_id"], prerequisite.result["channel_id"]
            raise InvalidRequest("The incident has no Teams channel yet.", status=400)
        return p["team_id"], p["channel_id"]

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        """Nothing to record: the status update itself is on the timeline already."""


TRIED_VIA = "tried_via"  # a post's progress: the paths its attempts took (bot, graph)
BOT, GRAPH = "bot", "graph"


class PostViaWebhook:
    """A card through the Teams Workflows webhook. The webhook cannot be asked what it
    posted, so an attempt after one that got no answer is handed to a person."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        if attempt.ambiguous:
            attempt.checkpoint(unconfirmed=True)
            raise Unconfirmed(
                "The Teams webhook did not answer, so this may already be in the channel. "
                "Check the channel; if it is not there, press Try again.")
        current_app.extensions["teams_webhook"](attempt.delivery.payload["card"])
        return {"via": "workflow"}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        """Nothing to record."""


class AddTeamMember:
    """Someone brought into an incident joins its Teams team; already a member is fine
    (Graph's add is idempotent for us: the port treats it as success)."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        p = attempt.delivery.payload
        graph.add_team_member(p["team_id"], p["user_id"])
        return {"added": p["user_id"]}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        """Nothing to record: the timeline already says who was brought in."""


class AddChannelMember:
    """Someone working on a security incident joins its private channel."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        p = attempt.delivery.payload
        try:
            membership = graph.add_channel_member(p["team_id"], p["channel_id"], p["user_id"])
        except InvalidRequest as error:
            raise_if_propagating(attempt, error)
            raise
        # The membership's id: what taking them out again (RemoveChannelMember) deletes.
        return {"added": p["user_id"], "membership_id": membership}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        """Nothing to record."""


class RemoveChannelMember:
    """Someone no longer working on a security incident leaves its private channel (not
    the team), planned by app/m365/lifecycle.py after the add it undoes. Removing twice
    is harmless: a membership already gone counts as removed."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        p = attempt.delivery.payload
        if _participant_again(attempt.delivery):  # brought back in since it was planned
            raise NothingToDo
        added = attempt.delivery.depends_on
        membership = (added.result or {}).get("membership_id", "") if added else ""
        graph.remove_channel_member(p["team_id"], p["channel_id"], p["user_id"],
                                    membership_id=membership)
        return {"removed": p["user_id"]}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        _lifecycle_entry(session, delivery, "teams_channel_member_removed",
                         f"{delivery.payload['name']} no longer in the private channel")


def _participant_again(delivery: Delivery) -> bool:
    """Whether the person a removal takes out is working on the incident again (a failed
    removal someone tries again after bringing them back must not take them out)."""
    return object_session(delivery).get(
        Participant, (delivery.incident_id, delivery.payload.get("person_id"))) is not None


class ReadChannel:
    """Read the incident channel's messages and their replies (as the person who asked)
    for import. Reading twice is harmless: copies are keyed by message id."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:


        p = attempt.delivery.payload
        posts = graph.channel_messages(p["team_id"], p["channel_id"],
                                       since=datetime.fromisoformat(p["since"]),
                                       with_replies=True)
        threads = (m for post in posts for m in (post, *post.replies))
        return {"messages": [
            {"id": m.id, "html": m.html, "web_url": m.web_url, "sender": m.sender_name,
             "created_at": m.created_at.isoformat() if m.created_at else None,
             "reply_to_id": m.reply_to_id}
            for m in islice(threads, MAX_MESSAGES)]}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:

        found = [ChannelMessage(id=m["id"], html=m["html"], web_url=m["web_url"],
                                sender_name=m["sender"],
                                created_at=datetime.fromisoformat(m["created_at"])
                                if m["created_at"] else None,
                                reply_to_id=m.get("reply_to_id"))
                 for m in result.get("messages", [])]
        new = store(session, delivery.incident_id, found)
        delivery.result = {"read": len(found), "new": new}  # the copies hold the text


class CreateEvent:
    """A calendar event (the review meeting) with a Teams link. Graph's transactionId
    (our key) makes a retried create return the same event, never a second one."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:

        p = attempt.delivery.payload
        event = graph.create_event(Sender(), EventRequest(
            subject=p["subject"], start=datetime.fromisoformat(p["start"]),
            end=datetime.fromisoformat(p["end"]),
            attendees=[Attendee(a["email"], a.get("name", "")) for a in p["attendees"]],
            body_html=p.get("body_html", ""), online_meeting=True,
            transaction_id=attachment_id(attempt.delivery.key)))
        return {"event_id": event.id, "web_url": event.web_url, "join_url": event.join_url}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        text = "Post-incident review meeting booked in Outlook"
        if not result["join_url"]:
            text += f" without a Teams link: {NO_TEAMS_LINK}"
        _timeline(session, delivery, "review_meeting", text,
                  {"web_url": result["web_url"], "join_url": result["join_url"]})


# An event asked for as a Teams meeting comes back without one when the organiser's
# calendar does not offer Teams (its allowedOnlineMeetingProviders:
# https://learn.microsoft.com/graph/outlook-calendar-online-meetings).
NO_TEAMS_LINK = ("Outlook did not add a Teams meeting (the organiser's calendar may not "
                 "allow Teams meetings). Open the meeting in Outlook and turn on Teams "
                 "meeting, so that people can join online.")


class CreateMeeting:
    """The incident's command room: createOrGet with our key as externalId, so a retry
    returns the same meeting instead of a second one."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        p = attempt.delivery.payload
        meeting = graph.create_online_meeting(
            Sender(), p["subject"], datetime.fromisoformat(p["start"]),
            datetime.fromisoformat(p["end"]), external_id=attachment_id(attempt.delivery.key))
        return {"meeting_id": meeting.id, "join_url": meeting.join_url}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        _timeline(session, delivery, "command_room", "Command room opened (Teams meeting)",
                  {"join_url": result["join_url"]})


class ArchiveChannel:
    """A closed incident's channel becomes read-only (planned by app/m365/lifecycle.py),
    as the app itself: ChannelSettings.ReadWrite.All is an application permission too,
    so this needs nobody's sign-in. Archiving twice is harmless."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        p = attempt.delivery.payload
        try:
            graph.archive_channel(p["team_id"], p["channel_id"])
        except InvalidRequest:
            if not _archived(graph, p):  # not "it is archived already"
                raise
        return _lifecycle_result(p)

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        _lifecycle_entry(session, delivery, "teams_channel_archived",
                         f"Teams channel archived: {result['name']}")


class UnarchiveChannel:
    """A reopened incident's channel takes posts again. Teams unarchives after it has
    answered (202 and an asynchronous operation), so this succeeds only once the channel
    reads back unarchived: the posts that wait for it then find it open."""

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        p = attempt.delivery.payload
        try:
            graph.unarchive_channel(p["team_id"], p["channel_id"])
        except InvalidRequest:
            if _archived(graph, p):  # not "it is unarchived already"
                raise
            return _lifecycle_result(p)
        if _archived(graph, p):
            raise StillRunning("Teams is still unarchiving the channel; checking again "
                               "shortly.", status=202)
        return _lifecycle_result(p)

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        _lifecycle_entry(session, delivery, "teams_channel_unarchived",
                         f"Teams channel unarchived: {result['name']}")


def _archived(graph: Graph, p: dict) -> bool:
    """Whether the incident's channel reads back archived."""
    return graph.get_channel(p["team_id"], p["channel_id"]).is_archived


def _lifecycle_result(p: dict) -> dict:
    # The channel as CreateChannel's result names it: posts may depend on an unarchive.
    return {"team_id": p["team_id"], "channel_id": p["channel_id"], "name": p["name"],
            "web_url": p.get("web_url", "")}


def _lifecycle_entry(session: Session, delivery: Delivery, kind: str, text: str) -> None:
    """One entry per delivery (a channel can be archived again after a reopening)."""
    timeline.record(delivery.incident_id, kind, text, data={"delivery_id": delivery.id},
                    author_id=delivery.actor_id, session=session)
    _changed(session, delivery)


def _timeline(session: Session, delivery: Delivery, kind: str, text: str, data: dict) -> None:
    already = session.scalar(
        select(TimelineEntry.id).where(TimelineEntry.incident_id == delivery.incident_id,
                                       TimelineEntry.kind == kind)
    )
    if already is None:
        timeline.record(delivery.incident_id, kind, text, data=data,
                        author_id=delivery.actor_id, session=session)
        _changed(session, delivery)


def _changed(session: Session, delivery: Delivery) -> None:
    """What a delivery did is on the timeline now: the incident's reports follow. (Jobs
    always run in the app's context; a test driving the runner bare has no reports.)"""
    if has_app_context():
        current_app.extensions["effects"].publish(session, Changed(incident=delivery.incident))


HANDLERS = {
    plans.CREATE_CHANNEL: CreateChannel(),
    plans.POST: PostToChannel(),
    plans.MEETING: CreateMeeting(),
    plans.EVENT: CreateEvent(),
    plans.WEBHOOK: PostViaWebhook(),
    plans.ADD_MEMBER: AddTeamMember(),
    plans.READ_CHANNEL: ReadChannel(),
    plans.ADD_CHANNEL_MEMBER: AddChannelMember(),
    lifecycle.REMOVE_CHANNEL_MEMBER: RemoveChannelMember(),
    plans.ARCHIVE_CHANNEL: ArchiveChannel(),
    plans.UNARCHIVE_CHANNEL: UnarchiveChannel(),
    plans.MAIL: SendMail(),
    WRITE_KIND: WriteReport(),
    tab_pins.PIN_TAB: tab_pins.PinTab(),  # wired with what it needs by app/jobs.py
}
