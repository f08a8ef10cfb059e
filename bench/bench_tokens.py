"""Token redemptions: how often a job's Graph call goes back to Entra.

Signs `people` people in through the sandbox's Entra with MSAL's real auth-code flow (as
the callback does), then makes `calls` token requests for each of them the way jobs do:
a new `graph.tokens.user_token` provider per delivery, from the stored (serialised) MSAL
cache, saving the cache whenever MSAL changed it. Counts redemptions at the sandbox's
token endpoint, once asking for the concrete delegated scopes Incident Desk declares
(graph/permissions.py) and once for `.default`, which is what the code asked for before.

Target (issue 13): at most one redemption per person per token lifetime, i.e. 0 refreshes
here, where every call falls within the first token's lifetime.

Run: `.venv/bin/python bench/bench_tokens.py [people] [calls]` (5, 40).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from graph.entra import EntraSignIn
from graph.sandbox import SandboxServer
from graph.sandbox.seed import CLIENT_ID, CLIENT_SECRET, seed_defaults
from graph.sandbox.wire import TENANT_ID
from graph.tokens import DELEGATED_SCOPES, GRAPH_DEFAULT, user_token

REDIRECT = "https://incident-desk.example/auth/callback"


def sign_in(server: SandboxServer, email: str):
    entra = EntraSignIn(TENANT_ID, CLIENT_ID, CLIENT_SECRET, server.authority_host,
                        verify=server.ca_file)
    flow = entra.start(REDIRECT)
    page = requests.get(f"{flow['auth_uri']}&login_hint={email}", timeout=10,
                        verify=server.ca_file)
    return entra.finish(flow, dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)))


def run(server: SandboxServer, people: list, calls: int, scopes) -> tuple[int, float]:
    caches = {who.object_id: who.token_cache for who in people}
    before = server.state.token_redemptions("refresh_token")
    started = time.perf_counter()
    for _ in range(calls):
        for who in people:
            def save(serialized: str, oid: str = who.object_id) -> None:
                caches[oid] = serialized

            user_token(TENANT_ID, CLIENT_ID, CLIENT_SECRET, server.authority_host,
                       caches[who.object_id], who.object_id, scopes, save,
                       verify=server.ca_file)()
    elapsed = time.perf_counter() - started
    return server.state.token_redemptions("refresh_token") - before, elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    with SandboxServer() as server:
        seed_defaults(server.state)
        people = [sign_in(server, f"person{n}@example.org") for n in range(count)]
        codes = server.state.token_redemptions("authorization_code")
        concrete, concrete_s = run(server, people, calls, DELEGATED_SCOPES)
        default, default_s = run(server, people, calls, GRAPH_DEFAULT)
    total = count * calls
    print(f"{count} people signed in ({codes} code redemptions), {calls} token requests "
          f"each ({total} in all), token lifetime "
          f"{server.state.limits().token_lifetime:.0f} s")
    print(f"concrete scopes: {concrete} refresh redemptions "
          f"({concrete / count:.2f} per person), {concrete_s * 1000 / total:.2f} ms a request")
    print(f".default:        {default} refresh redemptions "
          f"({default / count:.2f} per person), {default_s * 1000 / total:.2f} ms a request")


if __name__ == "__main__":
    main()
