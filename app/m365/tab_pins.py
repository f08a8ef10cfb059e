"""The incident as a tab in the channel Incident Desk made for it, pinned by the app.

When the incident's channel is created (handlers.CreateChannel.apply) in a team the Teams
app is installed in, one more delivery is planned: pin the incident's tab there, as the
app itself (`as_app`: nobody's sign-in). Through Graph, with the app's own token and the
resource-specific consent a team owner gave when adding the app
(app/teams_app/manifest.py's RSC_PERMISSIONS), three calls, each the least privileged
its page lists:

1. the app's id in the app catalog, from its installation in the team (GET
   /teams/{id}/installedApps?$expand=teamsApp&$filter=teamsApp/externalId eq '<manifest
   id>': TeamsAppInstallation.Read.Group). Not the catalog itself (GET /appCatalogs/
   teamsApps): that needs the tenant-wide AppCatalog.Read.All, and its page says it is
   supported in the user context only. The installation also confirms the app is there.
2. the channel's tabs of that app (GET .../tabs?$expand=teamsApp&$filter=teamsApp/id eq
   '...': TeamsTab.Read.Group), looked at before every pin: Graph has no idempotency key
   for tabs, an attempt whose answer was lost may have pinned it, and a person may have
   pinned it by hand from the channel's + (the same entityId, the incident's reference).
3. the pin (POST .../tabs: TeamsTab.Create.Group), configured exactly as the tab's own
   configuration page configures it (app/web/tab, static/tab.js).
https://learn.microsoft.com/graph/api/team-list-installedapps,
https://learn.microsoft.com/graph/api/channel-list-tabs,
https://learn.microsoft.com/graph/api/channel-post-tabs

A security incident's channel is private. An app installed in a team is not available in
its private channels until it is added to each, which Graph offers no call for (an owner of
the channel does it in Teams), and bots in private channels are not generally available
(https://learn.microsoft.com/microsoftteams/platform/build-apps-for-shared-private-channels).
So the private channel's tab is tried the same way, but only there (nothing about a
security incident goes anywhere else), and when the app cannot be in the channel the
delivery ends with a notice the incident page shows in plain words (`APP_MISSING` in its
result); posts there stay on the delegated path (handlers.PostToChannel._private).

app.m365 must not import app.teams_app or app.bot (.importlinter): app/jobs.py hands
`TabPins` whether the app is installed in a team (the bot's record of it) and the
manifest's id (`TabApp`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from app.incidents import timeline
from app.incidents.events import Changed
from app.incidents.models import TimelineEntry
from app.outbox import service as outbox
from app.outbox.models import Delivery
from app.outbox.runner import Attempt, GiveUp, NothingToDo
from graph.port import Graph, GraphError, InvalidRequest, Tab, TabRequest

PIN_TAB = "teams.pin_tab"
APP_MISSING = "app_missing"  # progress: why the app cannot be in the private channel
NOT_INSTALLED, NOT_IN_CHANNEL = "not_installed", "not_in_channel"
TIMELINE_KIND = "teams_tab"


def key(reference: str) -> str:
    """One tab per incident channel. (Kept beside the handler that owns it; the string is
    stored, so it may never change: app/incidents/delivery_keys.py's rule.)"""
    return f"{reference}/channel/tab"


@dataclass(frozen=True)
class TabApp:
    """This installation's Teams app: the manifest's id (the catalog's `externalId`) and
    the address its tab's pages are served from (APP_BASE_URL)."""

    external_id: str
    base_url: str

    def content_url(self, reference: str) -> str:
        return f"{self.base_url.rstrip('/')}/tab/incident?reference={quote(reference)}"

    def website_url(self, reference: str) -> str:
        return f"{self.base_url.rstrip('/')}/incidents/{quote(reference)}"


@dataclass
class TabPins:
    """What pinning needs from outside app.m365, given by app/jobs.py: `installed(session,
    team_id)`, whether the app is installed in the team (as the bot knows it);
    `tab_app()`, the app (None: no Teams app is set up); `sandbox_package(team_id,
    external_id)`, the built-in sandbox only: the package its team has installed is this
    installation's (what an administrator uploads from /admin/teams-app)."""

    installed: Callable[[Session, str], bool]
    tab_app: Callable[[], TabApp | None]
    sandbox_package: Callable[[str, str], None] | None = None

    def plan(self, session: Session, channel: Delivery, result: dict) -> Delivery | None:
        """After the incident's channel is made: its tab, where the app is installed; in
        a private channel always, so the page can say if the app cannot be there."""
        incident = channel.incident
        if incident is None or not result.get("channel_id"):
            return None
        private = result.get("membership_type") == "private"
        if not private and not self.installed(session, result["team_id"]):
            return None  # no app in the team: nothing to pin, nothing to say
        wanted = key(incident.reference)
        if session.scalar(select(Delivery.id).where(Delivery.key == wanted)) is not None:
            return None
        return outbox.add(session, key=wanted, kind=PIN_TAB, incident=incident,
                          actor=channel.actor, depends_on=channel, payload={
                              "as_app": True, "private": private,
                              "label": "Incident tab in the private channel" if private
                              else "Incident tab in the Teams channel"})


class PinTab:
    """Pin the incident's tab in its channel, exactly once (see the module docstring)."""

    def __init__(self, pins: TabPins | None = None):
        self.pins = pins

    def send(self, graph: Graph, attempt: Attempt) -> dict:
        delivery = attempt.delivery
        made = delivery.depends_on.result if delivery.depends_on is not None else {}
        team, channel = made.get("team_id"), made.get("channel_id")
        if not team or not channel:
            raise InvalidRequest("The incident has no Teams channel yet.", status=400)
        private = bool(delivery.payload.get("private"))
        session = object_session(delivery)
        app = self.pins.tab_app() if self.pins is not None else None
        if app is None or session is None or not self.pins.installed(session, team):
            return self._not_there(attempt, private, NOT_INSTALLED)
        if self.pins.sandbox_package is not None:
            self.pins.sandbox_package(team, app.external_id)
        reference = delivery.incident.reference
        try:
            installed = graph.find_installed_app(team, app.external_id)
            if installed is None:  # Teams says the app is not there (any more)
                return self._not_there(attempt, private, NOT_INSTALLED)
            earlier = [t for t in graph.list_tabs(team, channel, installed.teams_app_id)
                       if t.entity_id == reference]
            if earlier:
                return _result(earlier[0], channel, found_earlier=True)
            tab = graph.pin_tab(team, channel, TabRequest(
                display_name=reference, teams_app_id=installed.teams_app_id,
                entity_id=reference, content_url=app.content_url(reference),
                website_url=app.website_url(reference)))
        except InvalidRequest as error:
            if "install" not in error.message.lower():
                raise
            return self._not_there(attempt, private, NOT_INSTALLED, error)
        except GraphError as error:
            if error.status != 403:
                raise  # throttled, failing, no answer: the outbox retries (and looks first)
            if private:
                return self._not_there(attempt, private, NOT_IN_CHANNEL, error)
            raise GiveUp(_refused(error)) from error
        return _result(tab, channel)

    @staticmethod
    def _not_there(attempt: Attempt, private: bool, why: str,
                   error: GraphError | None = None) -> dict:
        """The app is not in the team (or, for a private channel, not in the channel).
        A standard channel then simply has no tab. A private one is done too, on the
        delegated path, and its result carries the notice the incident page shows: not a
        failure to try again, since what makes the app available there (an owner adding
        it from the channel's +) pins the incident's tab itself."""
        if not private:
            raise NothingToDo
        channel = attempt.delivery.depends_on.result.get("channel_id")
        return {APP_MISSING: why, "notice": missing_notice(attempt.delivery, why, error),
                "channel_id": channel}

    def apply(self, session: Session, delivery: Delivery, result: dict) -> None:
        if result.get(APP_MISSING):
            return  # the incident page shows the notice (templates/m365/_panel.html)
        if session.scalar(select(TimelineEntry.id).where(
                TimelineEntry.incident_id == delivery.incident_id,
                TimelineEntry.kind == TIMELINE_KIND)) is not None:
            return  # one entry per incident (a Try again finding the tab adds none)
        where = "private channel" if delivery.payload.get("private") else "Teams channel"
        timeline.record(delivery.incident_id, TIMELINE_KIND,
                        f"Incident tab pinned in the {where}",
                        data={"web_url": result.get("web_url", "")},
                        author_id=delivery.actor_id, session=session)
        if has_app_context():  # the reports follow the timeline (as handlers._changed)
            current_app.extensions["effects"].publish(session,
                                                      Changed(incident=delivery.incident))


def _result(tab: Tab, channel: str, found_earlier: bool = False) -> dict:
    return {"tab_id": tab.id, "web_url": tab.web_url, "teams_app_id": tab.teams_app_id,
            "channel_id": channel, "found_earlier": found_earlier}


def _refused(error: GraphError) -> str:
    return (f"Teams refused the Incident Desk app's request to pin the incident tab "
            f"({error.status}{' ' + error.code if error.code else ''}: {error.message}). "
            "The app installed in the incidents team has probably not been granted "
            "TeamsAppInstallation.Read.Group, TeamsTab.Read.Group and TeamsTab.Create.Group: "
            "upload the current package from the Teams app page and have a team owner "
            "accept its permissions, then press Try again.")


def missing_notice(delivery: Delivery, why: str, error: GraphError | None = None) -> str:
    """What the incident page says when the app cannot be in a security incident's
    private channel, and what posts do instead."""
    actor = delivery.actor
    who = f"{actor.name}'s" if actor is not None and actor.name else \
        "the Incident Desk service account's"
    text = ("The Incident Desk app could not be added to this private channel: posts go "
            f"through {who} sign-in instead. ")
    if why == NOT_INSTALLED:
        text += ("The app is not installed in the incidents team. Once an administrator "
                 "has added it, an owner of this channel can add Incident Desk from the "
                 "channel's + in Teams.")
    else:
        text += ("Teams keeps apps out of a private channel until one of its owners adds "
                 "them: an owner can add Incident Desk from the channel's + in Teams, which "
                 "pins this incident there too.")
    if error is not None:
        text += f" (Teams answered {error.status}: {error.message})"
    return text


def sandbox_package(app) -> Callable[[str, str], None] | None:
    """With the built-in sandbox only: its team's Teams app is this installation's package
    (graph/sandbox/teams_apps.set_package), unless the sandbox was told of another."""
    from app.m365.graph_setup import BUILT_IN

    if app.extensions["graph_setup"].kind != BUILT_IN:
        return None

    def record(team_id: str, external_id: str) -> None:
        from app.m365.sandbox_host import state_for
        from graph.sandbox import teams_apps

        state = state_for(app.extensions["settings"].graph_sandbox_db)
        with state.read() as tx:
            found = teams_apps.installation(tx, team_id)
        if found is not None and not found.get("external_id"):
            teams_apps.set_package(state, team_id, external_id)

    return record
