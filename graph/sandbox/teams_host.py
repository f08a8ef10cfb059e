"""A page that hosts an app's tab the way Teams does, for the sandbox tenant's people.

GET /_sandbox/teams-host?tab=URL&resource=api://host/{app id}&upn=...&channel=...&team=...
frames the tab (its configuration page first, when `config=1`) and answers the messages
@microsoft/teams-js sends its host by postMessage (the protocol of teams-js 2.x,
src/internal/communication.ts): `initialize` (frame context, client type "web", a
runtime config), `getContext` (the signed-in person, the team and channel),
`authentication.getAuthToken` (the SSO token the sandbox's Entra issues for `upn` and
the tab's `resource`, graph/sandbox/teams_sso.py), `authentication.authenticate` (a
pop-up whose `notifySuccess` / `notifyFailure` answers it), and a configuration page's
`settings.setValidityState` / `settings.setSettings` / `settings.save.success`, with a
Save button as Teams shows. Replies carry the request's `id` and `uuidAsString`, and go
only to the tab's own origin; requests from any other window or origin are ignored.
"""

from __future__ import annotations

import html
import json
from urllib.parse import urlsplit

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from graph.sandbox.teams_sso import SsoRefused, sso_token
from graph.sandbox.wire import TENANT_ID

MAX_FIELD = 2000


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""


def host_page(request: Request, state) -> Response:
    args = request.args
    tab = args.get("tab", "")[:MAX_FIELD]
    origin = _origin(tab)
    if not origin:
        return Response("tab= must be the tab's http(s) address.", status=400,
                        content_type="text/plain; charset=utf-8")
    upn = args.get("upn", "")[:320].strip().lower()
    settings = {
        "tab": tab, "origin": origin, "upn": upn, "name": args.get("name", "")[:200],
        "resource": args.get("resource", "")[:MAX_FIELD],
        "frameContext": "settings" if args.get("config") == "1" else "content",
        "channel": args.get("channel", "")[:200], "team": args.get("team", "")[:200],
        "tenant": TENANT_ID, "tokenUrl": "/_sandbox/teams-host/token",
    }
    data = html.escape(json.dumps(settings), quote=True)
    page = PAGE.replace("{{settings}}", data).replace("{{upn}}", html.escape(upn or "nobody"))
    return Response(page, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def host_token(request: Request, state) -> Response:
    """What getAuthToken() resolves to for the host page: {"token"} or {"error"}."""
    body = request.get_json(silent=True) or {}
    upn = str(body.get("upn") or "").strip().lower()[:320]
    resource = str(body.get("resource") or "")[:MAX_FIELD]
    if "@" not in upn:
        return _json({"error": "resourceRequiresConsent",
                      "detail": "No one is signed in to the sandbox's Teams (upn=)."}, 400)
    try:
        with state.tx() as tx:
            token = sso_token(tx, upn, resource, name=str(body.get("name") or "")[:200])
    except SsoRefused as refused:
        return _json({"error": refused.reason, "detail": refused.detail}, 400)
    return _json({"token": token})


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status,
                    content_type="application/json; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def rules() -> list[Rule]:
    return [Rule("/_sandbox/teams-host", endpoint=host_page, methods=["GET"]),
            Rule("/_sandbox/teams-host/token", endpoint=host_token, methods=["POST"])]


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Teams (sandbox) - Incident Desk tab</title>
<style>
body{margin:0;font-family:system-ui,sans-serif;background:#ebebeb;color:#242424}
header{background:#464775;color:#fff;padding:8px 12px;font-size:14px}
main{padding:8px}
iframe{border:0;background:#fff;width:var(--tab-width,100%);height:80vh;display:block}
#bar{margin:8px 0;display:none}
#bar button{font-size:15px;padding:6px 16px}
</style></head>
<body>
<header>Microsoft Teams (Graph sandbox) &middot; signed in as <b>{{upn}}</b></header>
<main>
<div id="bar"><button id="save" type="button" disabled>Save</button>
<span id="saved" role="status"></span></div>
<iframe id="tab" title="Incident Desk tab" data-settings="{{settings}}"></iframe>
</main>
<script>
(function () {
  "use strict";
  var frame = document.getElementById("tab");
  var s = JSON.parse(frame.getAttribute("data-settings"));
  var width = new URLSearchParams(location.search).get("width");
  if (width) frame.style.setProperty("--tab-width", parseInt(width, 10) + "px");
  var frameContext = s.frameContext, popup = null, pending = null, instanceConfig = null;
  window.sandboxTeams = {log: []};
  var runtime = JSON.stringify({apiVersion: 4, hostVersionsInfo: {adaptiveCardSchemaVersion:
    {majorVersion: 1, minorVersion: 5}}, isLegacyTeams: false, supports: {
    appInstallDialog: {}, pages: {appButton: {}, tabs: {}, config: {}, backStack: {},
    fullTrust: {}}, teamsCore: {}, dialog: {url: {}, update: {}}}});

  function context() {
    return {locale: "en-gb", theme: "default", frameContext: frameContext,
      hostClientType: "web", hostName: "Teams", entityId: (instanceConfig || {}).entityId,
      tid: s.tenant, userPrincipalName: s.upn, loginHint: s.upn, teamId: s.team,
      channelId: s.channel, groupId: s.team, appSessionId: "sandbox-session"};
  }
  function reply(target, message, args) {
    target.postMessage({id: message.id, uuidAsString: message.uuidAsString, args: args},
                       s.origin);
  }
  function getToken() {
    return fetch(s.tokenUrl, {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({upn: s.upn, name: s.name, resource: s.resource})})
      .then(function (r) { return r.json(); });
  }
  function load(url, context) {
    frameContext = context;
    frame.src = url;
  }
  document.getElementById("save").addEventListener("click", function () {
    frame.contentWindow.postMessage({func: "settings.save", args: [{}]}, s.origin);
  });
  window.addEventListener("message", function (event) {
    var fromTab = event.source === frame.contentWindow;
    var fromPopup = popup && event.source === popup;
    if ((!fromTab && !fromPopup) || event.origin !== s.origin) return;
    var m = event.data;
    if (!m || typeof m.func !== "string") return;
    window.sandboxTeams.log.push(m.func);
    switch (m.func) {
      case "initialize":
        reply(event.source, m, [fromPopup ? "authentication" : frameContext, "web",
                                runtime, "2.58.0"]);
        break;
      case "getContext":
        reply(event.source, m, [context()]);
        break;
      case "authentication.getAuthToken":
        getToken().then(function (b) {
          reply(event.source, m, b.token ? [true, b.token] : [false, b.error]);
        }, function () { reply(event.source, m, [false, "internalError"]); });
        break;
      case "authentication.authenticate":
        pending = {message: m, target: event.source};
        popup = window.open(m.args[0], "teams-auth", "width=" + (m.args[1] || 600) +
                            ",height=" + (m.args[2] || 535));
        if (!popup) { reply(event.source, m, [false, "CancelledByUser"]); pending = null; }
        break;
      case "authentication.authenticate.success":
      case "authentication.authenticate.failure":
        if (pending) {
          reply(pending.target, pending.message,
                [m.func.endsWith("success"), m.args[0]]);
          pending = null;
        }
        break;
      case "settings.setValidityState":
        document.getElementById("bar").style.display = "block";
        document.getElementById("save").disabled = !m.args[0];
        break;
      case "settings.setSettings":
        instanceConfig = m.args[0];
        reply(event.source, m, [true]);
        break;
      case "settings.save.success":
        document.getElementById("saved").textContent = "Tab saved: " +
          (instanceConfig && instanceConfig.suggestedDisplayName || "");
        document.getElementById("bar").style.display = "none";
        if (instanceConfig && instanceConfig.contentUrl) load(instanceConfig.contentUrl, "content");
        break;
      default:
        break;
    }
  });
  load(s.tab, frameContext);
})();
</script>
</body></html>
"""
