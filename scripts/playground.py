"""Try the Teams bot in Microsoft 365 Agents Playground, with nothing weakened in the bot.

The Playground posts its activities with no Authorization header (it only signs in to
login.microsoftonline.com when given a client secret, which offline it cannot reach), and
the bot answers an unauthenticated activity with 401. In Teams, too, the client never
talks to the bot: the Bot Connector service signs each activity. So this launcher puts
the Graph sandbox's connector between them: the Playground posts to a loopback relay,
which signs the activity with the sandbox's connector key exactly as
graph/sandbox/routes_connector.py `deliver` does (issuer, audience the bot's app id,
serviceurl the Playground's own connector) and forwards it; the bot checks it as it checks
any token. The relay signs only activities whose serviceUrl is this Playground's.

It also writes the Playground's config (.m365agentsplayground.yml): the sandbox's tenant,
the bot's app id, and the person you sign in to Incident Desk as (their sandbox object id),
so the bot knows them; the team is the sandbox's incidents team and its General channel.

    .venv/bin/python scripts/playground.py --as you@example.org   # beside `make run`

docs/teams-playground.md has what the Playground sends and what it can't do.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph.sandbox import SandboxState  # noqa: E402
from graph.sandbox.directory import object_id  # noqa: E402
from graph.sandbox.routes_connector import connector_token  # noqa: E402
from graph.sandbox.seed import (  # noqa: E402
    BOT_APP_ID,
    BROADCAST_CHANNEL_ID,
    CONTACTS,
    TEAM_ID,
)
from graph.sandbox.wire import TENANT_ID  # noqa: E402

CLI = ROOT / "playground" / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
NOT_INSTALLED = (f"Microsoft 365 Agents Playground is not installed ({CLI} is missing): "
                 "run `make install`.")
MAX_ACTIVITY_BYTES = 256 * 1024
FORWARD_TIMEOUT = 30.0
START_TIMEOUT = 60.0
OTHER_PEOPLE = 5  # the Playground's config has exactly five besides the current user


@dataclass(frozen=True)
class Person:
    """Who the Playground's user is: an Incident Desk user has the same object id and
    tenant (a dev sign-in with the sandbox gets object_id(email) in its tenant)."""
    email: str
    name: str

    @property
    def oid(self) -> str:
        return object_id(self.email)


def config_yaml(me: Person, others: list[Person], bot_app_id: str = BOT_APP_ID,
                channel: tuple[str, str] | None = None) -> str:
    """The Playground's mock Teams context (its config schema 0.1.1), written as JSON,
    which YAML reads as it is. Teams' ids: 29: for people, 28: for the bot; the team's
    General channel is the team's thread id, and aadGroupId its Graph id. The schema
    wants exactly five other people (the sandbox's contacts fill the places left) and
    allows one channel besides General: `channel` (id, name), e.g. an incident's."""
    def user(person: Person) -> dict:
        given, _, surname = person.name.partition(" ")
        return {"id": f"29:{person.oid}", "name": person.name,
                "userPrincipleName": person.email, "aadObjectId": person.oid,
                "givenName": given or person.name, "surname": surname or person.name,
                "email": person.email}
    return json.dumps({
        "version": "0.1.1", "tenantId": TENANT_ID,
        "bot": {"id": f"28:{bot_app_id}", "name": "Incident Desk"},
        "currentUser": user(me), "users": [user(p) for p in (list(others) + [
            Person(c["Email"], c["Title"]) for c in CONTACTS if c["Email"] != me.email])[
            :OTHER_PEOPLE]],
        "personalChat": {"id": "a:incident-desk-playground-personal"},
        "groupChat": {"id": "19:incident-desk-playground-group@thread.v2",
                      "name": "Group Chat"},
        "team": {"id": BROADCAST_CHANNEL_ID, "name": "Incidents", "aadGroupId": TEAM_ID,
                 "channels": [{"id": channel[0], "name": channel[1][:256]}] if channel
                 else []}}, indent=2)


class Relay:
    """A loopback HTTP server that signs the Playground's activities as the sandbox's Bot
    Connector and posts them to the bot, answering with the bot's status and body."""

    def __init__(self, state: SandboxState, bot_url: str, bot_app_id: str = BOT_APP_ID):
        self.state, self.bot_url, self.bot_app_id = state, bot_url, bot_app_id
        self.service_url: str | None = None  # the Playground's, once it has said its port
        self.server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/messages"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> Relay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join(5)
        self.server.server_close()

    def _wsgi(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path != "/api/messages":
            return Response("Not found", 404)
        raw = request.get_data()[:MAX_ACTIVITY_BYTES + 1]
        try:
            activity = json.loads(raw)
        except ValueError:
            activity = None
        if len(raw) > MAX_ACTIVITY_BYTES or not isinstance(activity, dict):
            return Response("The body must be a JSON activity.", 400)
        if self.service_url is None or activity.get("serviceUrl") != self.service_url:
            return Response("Only this Playground's activities are signed.", 403)
        token = connector_token(self.state, audience=self.bot_app_id,
                                service_url=self.service_url)
        http = requests.Session()
        http.trust_env = False
        try:
            answer = http.post(self.bot_url, data=raw, timeout=FORWARD_TIMEOUT, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            return Response(f"The bot did not answer: {exc}", 502)
        finally:
            http.close()
        return Response(answer.content, answer.status_code, content_type=answer.headers.get(
            "Content-Type", "application/json"))


class Playground:
    """The Playground's CLI (node) with its config, started on `port` (the CLI picks
    another when that one is taken) and pointed at the relay."""

    def __init__(self, relay: Relay, me: Person, others: list[Person] = (), port: int = 0,
                 bot_app_id: str = BOT_APP_ID, channel: tuple[str, str] | None = None):
        if not CLI.is_file():
            raise FileNotFoundError(NOT_INSTALLED)
        self.relay, self.port = relay, port
        self.folder = Path(tempfile.mkdtemp(prefix="incident-desk-playground-"))
        self.config = self.folder / ".m365agentsplayground.yml"
        self.config.write_text(config_yaml(me, list(others), bot_app_id, channel))
        self.log = self.folder / "playground.log"
        self.process: subprocess.Popen | None = None
        self.url: str | None = None

    def start(self) -> Playground:
        env = {**os.environ, "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(self.config),
               "M365_AGENTS_PLAYGROUND_LOGFILE": str(self.folder / "devTools.log"),
               "BROWSER": "none", "TEAMSAPPTESTER_BROWSER": "none"}
        command = ["node", str(CLI), "-e", self.relay.url, "-c", "msteams", "-p",
                   str(self.port), "--disable-telemetry"]  # 0: a free port
        out = self.log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - node and the installed CLI
            command, cwd=self.folder, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(rb"Listening on (\d+)", self.log.read_bytes())
            if found:
                port = int(found.group(1))
                self.relay.service_url = f"http://localhost:{port}/_connector"
                self.url = f"http://127.0.0.1:{port}/"
                if self._answers():
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        said = self.log.read_text(errors="replace")[-2000:]
        logged = self.folder / "devTools.log"
        said += logged.read_text(errors="replace")[-2000:] if logged.is_file() else ""
        self.stop()
        raise RuntimeError(f"The Playground did not start: {said}")

    def _answers(self) -> bool:
        try:
            return requests.get(self.url, timeout=2).ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--as", dest="email", required=True,
                        help="the email you sign in to Incident Desk with (dev sign-in)")
    parser.add_argument("--name", default="", help="your name as the Playground shows it")
    parser.add_argument("--bot", default="http://127.0.0.1:5000/api/messages",
                        help="the bot's endpoint (default: make run's)")
    parser.add_argument("--sandbox-db", default=str(ROOT / "instance" / "graph-sandbox.db"),
                        help="the Graph sandbox's state file (GRAPH_SANDBOX_DB)")
    parser.add_argument("--bot-app-id", default=os.environ.get("BOT_APP_ID") or BOT_APP_ID)
    parser.add_argument("--port", type=int, default=56150)
    args = parser.parse_args(argv)
    if not Path(args.sandbox_db).is_file():
        parser.error(f"{args.sandbox_db} is not there yet: start Incident Desk (make run) "
                     "and sign in once, then start the Playground")
    me = Person(args.email.strip().lower(), args.name or args.email.split("@")[0])
    signal.signal(signal.SIGTERM, _interrupt)  # stop the Playground too when told to
    relay = Relay(SandboxState(args.sandbox_db), args.bot, args.bot_app_id).start()
    playground = Playground(relay, me, port=args.port, bot_app_id=args.bot_app_id)
    try:
        playground.start()
        print(f"Agents Playground: {playground.url} (as {me.email}; relay {relay.url})",
              flush=True)
        playground.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        playground.stop()
        relay.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
