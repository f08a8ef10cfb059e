"""The sandbox as a plain werkzeug WSGI app: Graph v1.0 routes, auth, faults, a request
log, and the `/_sandbox/` controls.

- Every `/v1.0` request needs a bearer token the sandbox's Entra issued (graph/sandbox/
  auth.py: 401 without one), holding a permission the route's Microsoft reference page
  lists for it (`@requires` on the route: 403 without); the token names the actor.
- Entra's discovery, authorize and token endpoints (graph/sandbox/entra.py) answer on
  every listener; MSAL uses the TLS one.
- An unknown `/v1.0` path: 400 BadRequest "Resource not found for the segment '...'"; a
  known path with the wrong method: 405.
- Graph's documented throttling limits apply after authorisation (graph/sandbox/
  throttling.py): 429 with Retry-After, the request not applied.
- Faults and latency apply to `/v1.0`, upload and Workflows webhook URLs only; every such
  request is logged (`SandboxState.requests()`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
import uuid

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from graph.sandbox import (
    access,
    entra,
    routes_activity,
    routes_calendar,
    routes_channel_archive,
    routes_connector,
    routes_drives,
    routes_mail,
    routes_sites,
    routes_tabs,
    routes_teams,
    routes_workflows,
    throttling,
)
from graph.sandbox.auth import principal_of, requirement_of, signing_key
from graph.sandbox.faults import Faults
from graph.sandbox.state import SandboxState
from graph.sandbox.wire import (
    ApiError,
    Ctx,
    clock_of,
    error_body,
    iso,
    json_response,
)

log = logging.getLogger("graph.sandbox")


class _Dropped(Exception):
    """Close the connection without an answer."""


def _tag(rules: list[Rule], kind: str) -> list[Rule]:
    for rule in rules:
        rule.endpoint = (kind, rule.endpoint)
    return rules


class SandboxApp:
    def __init__(self, state: SandboxState, faults: Faults):
        self.state, self.faults = state, faults
        controls = [
            Rule("/_sandbox/state", endpoint=self.control_state, methods=["GET"]),
            Rule("/_sandbox/requests", endpoint=self.control_requests, methods=["GET"]),
            Rule("/_sandbox/reset", endpoint=self.control_reset, methods=["POST"]),
            Rule("/_sandbox/faults", endpoint=self.control_faults, methods=["GET", "POST"]),
            Rule("/_sandbox/token", endpoint=self.control_token, methods=["POST"]),
            Rule("/_sandbox/tenant", endpoint=self.control_tenant, methods=["GET", "POST"]),
            Rule("/_sandbox/seed", endpoint=self.control_seed, methods=["GET"]),
            Rule("/_sandbox/connector", endpoint=self.control_connector, methods=["GET"]),
            Rule("/_sandbox/team-members", endpoint=self.control_team_members,
                 methods=["POST"]),
            Rule("/_sandbox/teams-app", endpoint=self.control_teams_app, methods=["POST"]),
            # The app installed for one person; the activity feed notifications received.
            Rule("/_sandbox/teams-app/personal", methods=["POST"],
                 endpoint=lambda request: routes_activity.control_personal_install(
                     self.state, request)),
            Rule("/_sandbox/activity-notifications", methods=["GET"],
                 endpoint=lambda request: routes_activity.control_notifications(
                     self.state, request)),
        ]
        graph_rules = [rule for module in (routes_teams, routes_mail, routes_calendar,
                                           routes_sites, routes_drives,
                                           routes_channel_archive, routes_tabs,
                                           routes_activity)
                       for rule in module.rules()]
        self.url_map = Map(
            _tag(graph_rules, "graph") + _tag(routes_drives.upload_rules(), "upload")
            + _tag(routes_drives.download_rules(), "download")
            + _tag(routes_workflows.rules(), "webhook") + _tag(controls, "control")
            + _tag(entra.rules(), "entra") + _tag(routes_connector.rules(), "connector"),
            strict_slashes=False, redirect_defaults=False, merge_slashes=False)

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            with clock_of(self.state.clock):
                response = self.handle(request)
        except _Dropped:
            connection = environ.get("werkzeug.socket")
            if connection is None:  # not under werkzeug's server: the nearest thing
                response = json_response(error_body("UnknownError", "The request timed out.",
                                                    str(uuid.uuid4())), 504)
            else:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                raise ConnectionAbortedError("sandbox fault: no answer") from None
        return response(environ, start_response)

    # ---- the pipeline ------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        started, arrived = time.monotonic(), time.time()
        # Read the whole body first, whatever the answer: after a dropped connection
        # (the "timeout" fault) werkzeug would read an unread body as the next request.
        request.get_data()
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id", "")
        graphish = request.path == "/v1.0" or request.path.startswith("/v1.0/")
        adapter = self.url_map.bind_to_environ(request.environ)
        kind, func, args, failure = ("graph" if graphish else "other"), None, {}, None
        try:
            (kind, func), args = adapter.match()
        except NotFound:
            segment = request.path.rstrip("/").rsplit("/", 1)[-1]
            failure = (ApiError(400, "BadRequest",
                                f"Resource not found for the segment '{segment}'.")
                       if graphish else ApiError(404, "NotFound", "No such sandbox URL."))
        except MethodNotAllowed:
            failure = ApiError(405, "BadRequest", "Specified HTTP method is not allowed for "
                                                  "the request target.")
        if kind == "control" and failure is None:
            return func(request)
        if kind == "connector" and failure is None:
            return self._connector(request, func, args, started, request_id)
        if kind == "entra" and failure is None:
            return func(request, self.state, **args)
        principal = None
        if kind == "graph" and failure is None:
            try:
                principal = self._authorise(request, func, args)
            except ApiError as error:
                failure = error
        held = contextlib.nullcontext()
        if failure is None and principal is not None:
            try:  # Graph's documented limits, per app (graph/sandbox/throttling.py)
                held = throttling.admit(self.state, principal, func, args, arrived)
            except ApiError as error:
                failure = error
        actor = principal.actor if principal is not None else ""
        fault = None
        with held:
            if failure is None and kind in ("graph", "upload", "webhook"):
                fault = self.faults.pick(request.method, request.full_path.rstrip("?"))
                if self.faults.latency:
                    time.sleep(self.faults.latency)
            try:
                response = self._respond(request, func, args, principal, request_id, fault,
                                         failure)
            except _Dropped:
                self._log(request, kind, 0, actor, started, fault, request_id)
                raise
        if client_request_id:
            response.headers["client-request-id"] = client_request_id
        response.headers["request-id"] = request_id
        self._log(request, kind, response.status_code, actor, started, fault, request_id)
        return response

    def _authorise(self, request: Request, func, args: dict):
        """The caller, if their token is the sandbox's and holds what the route needs."""
        requirement = requirement_of(func, request.method)
        if requirement is None:  # a sandbox bug: every Graph route names its permissions
            raise ApiError(500, "generalException", f"The sandbox route {func.__name__} "
                                                    "declares no permissions.")
        header = request.headers.get("Authorization", "")
        # Tokens live in real time, whatever a test's clock says: MSAL checks them so.
        with self.state.read() as tx:  # the key, the token and the grants: one read
            found = tx.get("signing_key", "current")
            if found is not None:
                principal = principal_of(header, found["key"])
                access.authorise(tx, principal, requirement, request.method, args)
                return principal
        with self.state.tx() as tx:  # no token was ever issued: every one is refused
            principal_of(header, signing_key(tx))
        raise AssertionError("a token nobody issued was accepted")

    def _respond(self, request, func, args, principal, request_id, fault, failure
                 ) -> Response:
        ctx = Ctx(request, self.state, principal.actor if principal else "", request_id)
        ctx.principal = principal
        if failure is not None:
            return self._error(request, failure, request_id)
        if fault in ("429", "503", "504"):
            return self._error(request, self._fault_error(fault), request_id)
        if fault == "timeout":
            time.sleep(self.faults.hang)
            raise _Dropped
        try:
            response = func(ctx, **args)
        except ApiError as error:
            response = self._error(request, error, request_id)
        except Exception as exc:
            log.exception("graph sandbox: %s %s failed", request.method, request.path)
            response = self._error(request, ApiError(
                500, "generalException", f"The sandbox failed: {exc!r}"), request_id)
        if fault == "lost_response":  # applied above; the caller never hears of it
            return self._error(request, self._fault_error("504"), request_id)
        return response

    def _connector(self, request: Request, func, args: dict, started: float,
                   request_id: str) -> Response:
        """A Bot Connector call, with the same faults as Graph's (a bot's send can be
        throttled, fail, hang or lose its answer after it was applied), logged as
        `connector` requests."""
        fault = self.faults.pick(request.method, request.full_path.rstrip("?")) \
            if request.path.startswith("/v3/") else None  # never the signing keys
        if fault in ("429", "503", "504"):
            error = self._fault_error(fault)
            response = json_response({"error": {"code": error.code, "message":
                                                error.message}}, error.status, error.headers)
        elif fault == "timeout":
            time.sleep(self.faults.hang)
            self._log(request, "connector", 0, "", started, fault, request_id)
            raise _Dropped
        else:
            response = func(request, self.state, **args)
            if fault == "lost_response":  # applied; the bot never hears of it
                response = json_response({"error": {"code": "GatewayTimeout", "message":
                                                    "The request timed out."}}, 504)
        self._log(request, "connector", response.status_code, "", started, fault,
                  request_id)
        return response

    def _fault_error(self, fault: str) -> ApiError:
        retry = {"Retry-After": f"{self.faults.retry_after:g}"}
        if fault == "429":  # https://learn.microsoft.com/graph/throttling (sample response)
            return ApiError(429, "TooManyRequests", "Please retry again later.",
                            headers=retry, inner={"code": "429", "status": "429",
                                                  "message": "Please retry after"})
        if fault == "503":
            return ApiError(503, "serviceNotAvailable", "The service is temporarily "
                                                        "unavailable. Please retry later.",
                            headers=retry)
        return ApiError(504, "UnknownError", "The request timed out before the service "
                                             "answered.")

    @staticmethod
    def _error(request: Request, error: ApiError, request_id: str) -> Response:
        body = error_body(error.code, error.message, request_id,
                          request.headers.get("client-request-id", ""), error.inner)
        return json_response(body, error.status, error.headers)

    def _log(self, request, kind, status, actor, started, fault, request_id) -> None:
        if kind not in ("graph", "upload", "webhook", "connector"):
            return
        self.state.log_request({
            "request_id": request_id, "method": request.method,
            "path": request.full_path.rstrip("?"), "status": status, "actor": actor,
            "bytes": request.content_length or 0,
            "duration": round(time.monotonic() - started, 4), "fault": fault, "at": iso()})

    # ---- controls (no auth, never faulted) ----------------------------------------------

    def control_state(self, request: Request) -> Response:
        return json_response({"counts": self.state.summary(), "faults": self.faults.settings(),
                              "graph_base_url": request.host_url.rstrip("/") + "/v1.0"})

    def control_requests(self, request: Request) -> Response:
        return json_response({"value": self.state.requests()[-200:]})

    def control_reset(self, request: Request) -> Response:
        body = _control_body(request)
        seed = bool(body.get("seed")) or request.args.get("seed") in ("1", "true", "defaults")
        self.state.reset()
        self.faults.reset()
        if seed:
            from graph.sandbox.seed import seed_defaults

            seed_defaults(self.state)
        return json_response({"reset": True, "seeded": seed})

    def control_token(self, request: Request) -> Response:
        """The sandbox's dev sign-in: the access token its Entra would issue once `upn`
        signed in through the app (`client_id`, or the only registration), with the
        scopes an administrator consented; with `app`, the app's own (client
        credentials). The person joins the directory; nothing else (team membership,
        mailboxes) is granted."""
        body = _control_body(request)
        upn = str(body.get("upn") or "").strip()
        if not body.get("app") and "@" not in upn:
            return json_response(error_body("BadRequest", "upn (or app) is required.",
                                            str(uuid.uuid4())), 400)
        try:
            token = (self.state.app_token(body.get("client_id")) if body.get("app")
                     else self.state.token_for(upn, body.get("client_id")))
        except ValueError as exc:
            return json_response(error_body("BadRequest", str(exc), str(uuid.uuid4())), 400)
        lifetime = self.state.limits().token_lifetime
        return json_response({"access_token": token, "token_type": "Bearer",
                              "expires_in": int(lifetime)})

    def control_seed(self, request: Request) -> Response:
        """The seeded tenant's ids, for an app pointed here by GRAPH_BASE_URL alone."""
        from graph.sandbox.seed import seeded_ids

        return json_response(seeded_ids(self.state))

    def control_connector(self, request: Request) -> Response:
        """What bots sent through the Bot Connector (graph/sandbox/routes_connector.py)."""
        return json_response({"value": routes_connector.sent_activities(self.state)[-200:]})

    def control_team_members(self, request: Request) -> Response:
        """{"upns": [...], "team_id": optional}: people join the seeded team (or that
        one), as an administrator would have made them members."""
        from graph.sandbox.seed import add_members

        body = _control_body(request)
        upns, team = body.get("upns"), str(body.get("team_id") or "") or None
        if not isinstance(upns, list) or not upns or len(upns) > 100:
            return json_response(error_body("BadRequest", "upns: a list of 1 to 100 email "
                                            "addresses is required.", str(uuid.uuid4())), 400)
        try:
            added = add_members(self.state, upns, *([team] if team else []))
            return json_response({"members": added})
        except ValueError as exc:
            return json_response(error_body("BadRequest", str(exc), str(uuid.uuid4())), 400)

    def control_teams_app(self, request: Request) -> Response:
        """{"action": "install" | "uninstall", "team_id": optional (the seeded team),
        "bot_url": optional}: a team owner adds the Incident Desk Teams app to the team or
        removes it (graph/sandbox/teams_apps.py: the bot's roster and the RSC grants);
        with `bot_url`, the bot is told by a signed installationUpdate, as Teams does."""
        from graph.sandbox import teams_apps
        from graph.sandbox.seed import BOT_APP_ID, TEAM_ID, install_teams_app

        body = _control_body(request)
        action, team = body.get("action"), str(body.get("team_id") or TEAM_ID)[:200]
        bot_url = body.get("bot_url")
        if action not in ("install", "uninstall") or (
                bot_url is not None and not (isinstance(bot_url, str) and len(bot_url) < 2000
                                             and bot_url.startswith(("http://", "https://")))):
            return json_response(error_body("BadRequest", "action: install or uninstall; "
                                            "bot_url: an http(s) URL.", str(uuid.uuid4())), 400)
        try:
            found = install_teams_app(self.state, team) if action == "install" else \
                teams_apps.uninstall(self.state, team)
        except ValueError as exc:
            return json_response(error_body("BadRequest", str(exc), str(uuid.uuid4())), 400)
        told = None
        if bot_url:
            answer = teams_apps.deliver_installation(
                self.state, bot_url, team, "add" if action == "install" else "remove",
                service_url=request.host_url, bot_id=BOT_APP_ID)
            told = answer.status_code
        return json_response({"installed": bool(found and found.get("installed")),
                              "team_id": team, "bot_answered": told})

    def control_tenant(self, request: Request) -> Response:
        """The tenant's limits and delays (graph/sandbox/limits.py); POST changes some."""
        if request.method == "POST":
            try:
                self.state.configure_tenant(**_control_body(request))
            except (TypeError, ValueError) as exc:
                return json_response(error_body("BadRequest", str(exc), str(uuid.uuid4())),
                                     400)
        return json_response(self.state.limits().as_doc())

    def control_faults(self, request: Request) -> Response:
        if request.method == "POST":
            body = _control_body(request)
            targeted = body.pop("fail_next", None)
            known = {"latency", "error_rate", "kinds", "retry_after", "hang", "seed"}
            try:
                if set(body) - known:
                    raise ValueError(f"unknown settings {sorted(set(body) - known)}")
                if body:
                    self.faults.configure(**body)
                for target in ([targeted] if isinstance(targeted, dict) else targeted or []):
                    self.faults.fail_next(int(target.get("count", 1)), str(target["kind"]),
                                          str(target.get("path_contains", "")))
            except (ValueError, TypeError, KeyError) as exc:
                return json_response(error_body("BadRequest", str(exc), str(uuid.uuid4())),
                                     400)
        return json_response(self.faults.settings())


def _control_body(request: Request) -> dict:
    try:
        data = json.loads(request.get_data() or b"{}")
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def create_wsgi_app(state: SandboxState | None = None, faults: Faults | None = None
                    ) -> SandboxApp:
    """The sandbox as a WSGI callable (`.state`, `.faults` on it)."""
    return SandboxApp(state or SandboxState(), faults or Faults())
