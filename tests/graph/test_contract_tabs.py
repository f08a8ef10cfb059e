"""Teams apps and tabs, one contract for the FakeGraph and the real client against the
sandbox: the client calls as Incident Desk's app alone, holding only what installing the
Teams app in the team grants (RSC), as app/m365/tab_pins.py does."""

from __future__ import annotations

import pytest

from graph.port import GraphError, InvalidRequest, NotFound, TabRequest
from tests.graph.conftest import CONTRACT_APP, TEAM

MANIFEST_ID = "3f86988a-ff0a-5de3-8095-570d05ac3d49"
TAB_RSC = ("TeamsAppInstallation.Read.Group", "TeamsTab.Read.Group", "TeamsTab.Create.Group")


def _install(world, permissions=TAB_RSC) -> None:
    """A team owner adds the uploaded app (manifest id MANIFEST_ID) to TEAM."""
    if world.kind == "fake":
        world.graph.install_app(TEAM, MANIFEST_ID)
        return
    from graph.sandbox import teams_apps

    teams_apps.install(world.state, TEAM, "bot", (CONTRACT_APP,), permissions)
    teams_apps.set_package(world.state, TEAM, MANIFEST_ID)


def _as_the_app(world):
    """The client with the contract app's own token (no tenant-wide roles at all)."""
    if world.kind == "fake":
        return world.graph
    from graph.client import GraphClient

    token = world.state.app_token(CONTRACT_APP, roles=())
    return GraphClient(world.server.graph_base_url, lambda: token, timeout=5.0)


def _request(catalog_id: str, reference: str = "INC-2026-0001") -> TabRequest:
    return TabRequest(display_name=reference, teams_app_id=catalog_id, entity_id=reference,
                      content_url=f"https://desk.example.org/tab/incident?reference={reference}",
                      website_url=f"https://desk.example.org/incidents/{reference}")


def _tabs_in(world, channel: str) -> list[dict]:
    """What Teams holds, read past the API (the sandbox's state, the fake's own)."""
    if world.kind == "fake":
        return world.graph.tabs(channel)
    from graph.sandbox.routes_tabs import pinned_tabs

    return pinned_tabs(world.state, channel)


def _channel(world, private: bool = False) -> str:
    made = world.state.add_channel(TEAM, "inc-private" if private else "inc-standard",
                                   membership_type="private" if private else "standard")
    return made["id"]


def test_the_installed_app_is_found_by_its_manifest_id(world):
    _install(world)
    graph = _as_the_app(world)
    found = graph.find_installed_app(TEAM, MANIFEST_ID.upper())
    assert found is not None and found.external_id == MANIFEST_ID
    assert found.teams_app_id and found.teams_app_id != MANIFEST_ID  # the catalog's own
    assert graph.find_installed_app(TEAM, "another-apps-manifest-id") is None


def test_a_tab_is_pinned_listed_and_a_second_pin_is_a_second_tab(world):
    _install(world)
    graph = _as_the_app(world)
    channel = _channel(world)
    catalog = graph.find_installed_app(TEAM, MANIFEST_ID).teams_app_id
    assert graph.list_tabs(TEAM, channel, catalog) == []
    tab = graph.pin_tab(TEAM, channel, _request(catalog))
    assert tab.id and tab.web_url and tab.display_name == "INC-2026-0001"
    assert tab.teams_app_id == catalog
    [stored] = _tabs_in(world, channel)
    assert stored["configuration"]["websiteUrl"] == "https://desk.example.org/incidents/" \
        "INC-2026-0001" and stored["teamsApp"]["externalId"] == MANIFEST_ID
    [listed] = graph.list_tabs(TEAM, channel, catalog)
    assert listed.id == tab.id and listed.entity_id == "INC-2026-0001"
    assert listed.content_url.endswith("?reference=INC-2026-0001")
    graph.pin_tab(TEAM, channel, _request(catalog))  # Graph has no idempotency for tabs
    assert len(graph.list_tabs(TEAM, channel, catalog)) == 2
    assert graph.list_tabs(TEAM, channel, "some-other-app") == []


def test_a_tab_of_an_app_not_installed_in_the_team_is_refused(world):
    _install(world)
    graph = _as_the_app(world)
    channel = _channel(world)
    with pytest.raises(InvalidRequest) as caught:
        graph.pin_tab(TEAM, channel, _request("not-this-teams-app"))
    assert caught.value.status == 400 and "needs to be installed" in caught.value.message
    assert _tabs_in(world, channel) == []


def test_a_private_channel_takes_the_tab_only_once_the_app_is_added_to_it(world):
    _install(world)
    graph = _as_the_app(world)
    channel = _channel(world, private=True)
    catalog = graph.find_installed_app(TEAM, MANIFEST_ID).teams_app_id
    for call in (lambda: graph.list_tabs(TEAM, channel, catalog),
                 lambda: graph.pin_tab(TEAM, channel, _request(catalog))):
        with pytest.raises(GraphError) as caught:
            call()
        assert caught.value.status == 403 and "not enabled in this channel" in \
            caught.value.message
    if world.kind == "fake":
        world.graph.add_app_to_channel(TEAM, channel)
    else:
        from graph.sandbox import teams_apps

        teams_apps.add_to_channel(world.state, TEAM, channel)
    tab = graph.pin_tab(TEAM, channel, _request(catalog))
    assert [t.id for t in graph.list_tabs(TEAM, channel, catalog)] == [tab.id]


def test_an_unknown_channel_is_not_found(world):
    _install(world)
    graph = _as_the_app(world)
    with pytest.raises(NotFound):
        graph.list_tabs(TEAM, "19:nothing@thread.tacv2")
    with pytest.raises(NotFound):
        graph.pin_tab(TEAM, "19:nothing@thread.tacv2", _request("any"))


@pytest.mark.parametrize("missing", TAB_RSC)
def test_each_call_needs_its_rsc_permission(client_world, missing):
    """Without the team-scoped grant its page lists (or a tenant-wide role), Graph's 403."""
    from graph.client import GraphClient
    from graph.sandbox import teams_apps

    state = client_world.state
    teams_apps.install(state, TEAM, "bot", (CONTRACT_APP,),
                       tuple(p for p in TAB_RSC if p != missing))
    teams_apps.set_package(state, TEAM, MANIFEST_ID)
    channel = state.add_channel(TEAM, "inc-standard")["id"]
    token = state.app_token(CONTRACT_APP, roles=())
    graph = GraphClient(client_world.server.graph_base_url, lambda: token, timeout=5.0)
    with state.read() as tx:
        catalog = teams_apps.installation(tx, TEAM)["teams_app_id"]
    calls = {"TeamsAppInstallation.Read.Group": lambda: graph.find_installed_app(
                 TEAM, MANIFEST_ID),
             "TeamsTab.Read.Group": lambda: graph.list_tabs(TEAM, channel, catalog),
             "TeamsTab.Create.Group": lambda: graph.pin_tab(TEAM, channel, _request(catalog))}
    for permission, call in calls.items():
        if permission == missing:
            with pytest.raises(GraphError) as caught:
                call()
            assert caught.value.status == 403 and missing in caught.value.message
        else:
            call()
    teams_apps.uninstall(state, TEAM)  # no installation, no grant at all
    with pytest.raises(GraphError) as caught:
        graph.find_installed_app(TEAM, MANIFEST_ID)
    assert caught.value.status == 403
