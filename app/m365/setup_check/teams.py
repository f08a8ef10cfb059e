"""Probes of the incidents team, as the service account (and as you, on the page).

Reads are harmless as they are. The writes are requests Graph must refuse after it has
checked the permission and the caller's membership: a 403 names what is missing, a 400
shows it is there, and nothing is created, posted or archived.
"""

from __future__ import annotations

from app.m365.setup_check import connections, fixes
from app.m365.setup_check.answers import DONE, INVALID, NOT_FOUND, REFUSED, Answer, attempt
from app.m365.setup_check.context import Run, is_person, probe
from app.m365.setup_check.results import Outcome, failed, not_applicable, not_checked, passed

# Every character after "check" is one Teams forbids in a channel name; 34 characters.
ILLEGAL_CHANNEL_NAME = 'Incident Desk set-up check: "?#%*"'
TEAMS_CHANNEL_LIMIT = 1000
CHANNELS_WARNING = 900  # told this early: some hundred incidents' room left
NO_SUCH_CHANNEL = "19:incident-desk-set-up-check@thread.tacv2"  # not a Teams-made id
NEEDS_SERVICE = "Needs the service account's sign-in (see above)."
NEEDS_TEAM = "Needs the team to be found first (see above)."
TEAM_ID_FIX = fixes.setting("M365_TEAM_ID", "the id of the team that gets a channel per "
                                            "incident (the groupId in the team's link in "
                                            "Teams)")


def _object_id(run: Run, email: str) -> str | None:
    """A tenant names team members by Entra object id: the person's, if they have signed
    in (the sandbox names them by UPN)."""
    if connections.sandboxed(run.app):
        return None
    person = connections.person(email)
    return person.entra_oid if person is not None else None


def _member(run: Run, email: str):
    oid = _object_id(run, email)
    return next((m for m in run.members or () if is_person(m, email, oid)), None)


def _failure(run: Run, answer: Answer, permission: str, *, kind: str = "delegated",
             who: str | None = None) -> Outcome:
    """A refused, missing or unanswered Teams request (made as the service account, or
    as `who`), and what fixes it."""
    team, service = run.installation.team_id, run.installation.service_account
    who = who or service
    if answer.kind == REFUSED and kind == "delegated" and who == service \
            and run.members is not None and _member(run, who) is None:
        return failed(answer.said, fixes.team_member(who, team, owner=False))
    if answer.kind == REFUSED:
        return failed(answer.said, fixes.consent(permission, kind,
                                                 who if kind == "delegated" else None))
    if answer.kind == NOT_FOUND:
        return failed(answer.said, TEAM_ID_FIX)
    return failed(answer.said, fixes.try_again())


@probe("team-members", "The team can be read",
       "M365_TEAM_ID; TeamMember.ReadWrite.All, delegated")
def team_members(run: Run) -> Outcome:
    """Lists the team's members as the service account (GET /teams/{id}/members): a read.
    TeamMember.ReadWrite.All allows it (team-list-members lists it among the delegated
    permissions); it is what adding people to the team needs anyway."""
    team = run.installation.team_id
    if not team:
        return failed("M365_TEAM_ID is not set.", TEAM_ID_FIX)
    if run.as_service is None:
        return not_checked(NEEDS_SERVICE)
    answer = attempt(lambda: run.as_service.list_team_members(team))
    if answer.kind != DONE:
        return _failure(run, answer, "TeamMember.ReadWrite.All")
    run.members = tuple(answer.value)
    count = len(run.members)
    return passed(f"The team {team} has {count} member{'' if count == 1 else 's'}.")


@probe("service-account-member", "The service account is a member of the team",
       "M365_SERVICE_ACCOUNT in M365_TEAM_ID")
def service_account_member(run: Run) -> Outcome:
    """Looks through the members listed above: no request of its own."""
    who, team = run.installation.service_account, run.installation.team_id
    if run.members is None:
        return not_checked(NEEDS_TEAM)
    if _member(run, who) is None:
        return failed(f"{who} is not a member of the team {team}.",
                      fixes.team_member(who, team, owner=False))
    return passed(f"{who} is a member of the team.")


@probe("service-account-owner", "The service account is an owner of the team",
       "M365_SERVICE_ACCOUNT in M365_TEAM_ID")
def service_account_owner(run: Run) -> Outcome:
    """Looks through the members listed above: no request of its own."""
    who, team = run.installation.service_account, run.installation.team_id
    if run.members is None:
        return not_checked(NEEDS_TEAM)
    member = _member(run, who)
    if member is None or not member.is_owner:
        role = "a member but not an owner" if member is not None else "not in the team"
        return failed(f"{who} is {role} of the team {team}.",
                      fixes.team_member(who, team, owner=True))
    return passed(f"{who} is an owner of the team.")


@probe("you-member", "You are a member of the team", "M365_TEAM_ID")
def you_member(run: Run) -> Outcome:
    """Lists the team's members with your own token (a read): everyone who declares
    incidents must be in the team, as channels are created and posted in as them."""
    team = run.installation.team_id
    if run.you is None:
        return not_applicable("Checked only on the set-up check page, for whoever runs it "
                              "there.")
    if not team:
        return not_checked(NEEDS_TEAM)
    if run.as_you is None:
        return not_checked("Needs your own sign-in (see above).")
    answer = attempt(lambda: run.as_you.list_team_members(team))
    if answer.kind != DONE:
        return _failure(run, answer, "TeamMember.ReadWrite.All", who=run.you)
    oid = _object_id(run, run.you)
    if not any(is_person(m, run.you, oid) for m in answer.value):
        return failed(f"You ({run.you}) are not a member of the team {team}.",
                      fixes.team_member(run.you, team, owner=False))
    return passed(f"You ({run.you}) are a member of the team.")


@probe("create-channel", "Create the incident's channel", "Channel.Create, delegated")
def create_channel(run: Run) -> Outcome:
    """Asks for a channel named ILLEGAL_CHANNEL_NAME, which Teams forbids: Graph checks
    Channel.Create and the service account's membership first (403 without them), then
    refuses the name (400 BadRequest). No channel can be made with that name."""
    team = run.installation.team_id
    if run.members is None:
        return not_checked(NEEDS_TEAM)
    answer = attempt(lambda: run.as_service.create_channel(team, ILLEGAL_CHANNEL_NAME))
    if answer.kind == INVALID:
        return passed("Graph refused the check's illegal channel name (400), so it lets "
                      "the service account create channels.")
    if answer.kind == DONE:
        return failed(f"Teams created a channel named {ILLEGAL_CHANNEL_NAME!r}, although "
                      "its rules forbid that name.", "Delete that channel in Teams.")
    return _failure(run, answer, "Channel.Create")


@probe("list-channels", "Find channels already made, with room for more",
       "Channel.ReadBasic.All, delegated")
def list_channels(run: Run) -> Outcome:
    """Lists the team's channels (a read), and counts them: each incident gets one, and
    Teams allows 1,000 a team, archived ones and those deleted in the last 30 days
    included (https://learn.microsoft.com/microsoftteams/limits-specifications-teams),
    so a long-lived team needs telling before it is full."""
    team = run.installation.team_id
    if run.members is None:
        return not_checked(NEEDS_TEAM)
    answer = attempt(lambda: run.as_service.list_channels(team))
    if answer.kind != DONE:
        return _failure(run, answer, "Channel.ReadBasic.All")
    count = len(answer.value)
    if count >= CHANNELS_WARNING:
        return failed(f"The team {team} holds {count} channels that the service account "
                      f"can see, of the {TEAMS_CHANNEL_LIMIT} Teams allows a team (archived "
                      "ones and those deleted in the last 30 days count too).",
                      fixes.room_for_channels(team))
    return passed(f"The service account can list the team's channels: {count} of the "
                  f"{TEAMS_CHANNEL_LIMIT} a team may hold.")


@probe("broadcast-channel", "The broadcast channel", "M365_BROADCAST_CHANNEL_ID")
def broadcast_channel(run: Run) -> Outcome:
    """Reads the channel by its id: a read."""
    team, channel_id = run.installation.team_id, run.installation.broadcast_channel_id
    if not channel_id:
        return not_applicable("M365_BROADCAST_CHANNEL_ID is not set: major incidents are "
                              "announced only through M365_TEAMS_WEBHOOK_URL, if that is set.")
    if run.members is None:
        return not_checked(NEEDS_TEAM)
    answer = attempt(lambda: run.as_service.get_channel(team, channel_id))
    if answer.kind == NOT_FOUND:
        return failed(answer.said, fixes.setting(
            "M365_BROADCAST_CHANNEL_ID", f"the id of a channel in the team {team} (the "
            "19:…@thread.tacv2 in the channel's link)"))
    if answer.kind != DONE:
        return _failure(run, answer, "Channel.ReadBasic.All")
    if answer.value.is_archived:
        return failed(f"“{answer.value.display_name}” is archived: nothing can be posted in "
                      "it.", "Unarchive it in Teams, or set M365_BROADCAST_CHANNEL_ID to "
                             "another channel, then restart Incident Desk.")
    return passed(f"“{answer.value.display_name}” is in the team.")


def _channel_to_try(run: Run) -> str | None:
    """The broadcast channel, or else the team's General channel (found by a read)."""
    if run.installation.broadcast_channel_id:
        return run.installation.broadcast_channel_id
    general = attempt(lambda: run.as_service.find_channel(run.installation.team_id, "General"))
    return general.value.id if general.kind == DONE and general.value else None


@probe("post-message", "Post in channels", "ChannelMessage.Send, delegated")
def post_message(run: Run) -> Outcome:
    """Sends a channel message with no body: Graph checks ChannelMessage.Send and the
    service account's membership first (403 without them), then refuses a message with
    nothing in it (400). Nothing is posted."""
    if run.members is None:
        return not_checked(NEEDS_TEAM)
    channel_id = _channel_to_try(run)
    if channel_id is None:
        return not_checked("No channel to try posting in: set M365_BROADCAST_CHANNEL_ID.")
    answer = attempt(lambda: run.as_service.post_without_body(run.installation.team_id,
                                                              channel_id))
    if answer.kind == INVALID:
        return passed("Graph refused the check's empty message (400), so it lets the "
                      "service account post.")
    if answer.kind == DONE:
        return failed("Teams posted the check's empty message, although it has no body.",
                      "Delete the empty message in Teams.")
    return _failure(run, answer, "ChannelMessage.Send")


@probe("read-messages", "Read channel messages into the timeline",
       "ChannelMessage.Read.All, delegated")
def read_messages(run: Run) -> Outcome:
    """Reads the newest messages of the same channel: a read."""
    if run.members is None:
        return not_checked(NEEDS_TEAM)
    channel_id = _channel_to_try(run)
    if channel_id is None:
        return not_checked("No channel to try reading: set M365_BROADCAST_CHANNEL_ID.")
    answer = attempt(lambda: next(iter(run.as_service.channel_messages(
        run.installation.team_id, channel_id)), None))
    if answer.kind != DONE:
        return _failure(run, answer, "ChannelMessage.Read.All")
    return passed("The service account can read the channel's messages.")


@probe("archive-channels", "Archive closed incidents' channels",
       "ChannelSettings.ReadWrite.All, application")
def archive_channels(run: Run) -> Outcome:
    """Asks, as the app, to archive a channel id Teams never makes (NO_SUCH_CHANNEL):
    Graph checks ChannelSettings.ReadWrite.All first (403 without it), then finds no such
    channel (404). Nothing can be archived."""
    if run.settings.archive_channels_after_days == 0:
        return not_applicable("M365_ARCHIVE_CHANNELS_AFTER is 0: channels are never "
                              "archived.")
    if run.as_app is None:
        return not_checked("Needs Incident Desk's own token (see above).")
    if run.members is None:  # else a 404 could be the team's, not the channel's
        return not_checked(NEEDS_TEAM)
    answer = attempt(lambda: run.as_app.archive_channel(run.installation.team_id,
                                                        NO_SUCH_CHANNEL))
    if answer.kind in (NOT_FOUND, INVALID, DONE):
        return passed("Graph let the app ask to archive a channel (and found no such "
                      "channel), so it may archive channels.")
    return _failure(run, answer, "ChannelSettings.ReadWrite.All", kind="application")
