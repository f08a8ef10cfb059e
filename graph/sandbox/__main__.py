"""`python -m graph.sandbox --port 5001 --db instance/graph-sandbox.db`: the sandbox on its
own, with the default tenant (graph.sandbox.seed). It prints the settings that point
Incident Desk at it: GRAPH_BASE_URL alone (the app asks GET /_sandbox/seed for the ids and
takes tokens from the sandbox's dev sign-in), or with ENTRA_* and ENTRA_CA_BUNDLE for real
MSAL sign-ins against its TLS Entra."""

from __future__ import annotations

import argparse
import os

from graph.sandbox import SandboxServer, SandboxState, seed_defaults
from graph.sandbox.seed import CLIENT_ID, CLIENT_SECRET, TEAM_ID, add_members
from graph.sandbox.wire import TENANT_ID


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local Microsoft Graph sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--entra-port", type=int, default=0,
                        help="port of the TLS listener for Entra's endpoints (default: any)")
    parser.add_argument("--db", default=None,
                        help="SQLite file to keep state in (default: in memory)")
    parser.add_argument("--member", action="append", default=[], metavar="EMAIL",
                        help=f"make EMAIL a member of the team {TEAM_ID!r} (repeatable): "
                             "people who sign in with ENTRA_* must be members to declare")
    args = parser.parse_args(argv)
    if args.db:
        os.makedirs(os.path.dirname(os.path.abspath(args.db)), exist_ok=True)
    state = SandboxState(args.db)
    seed_defaults(state)
    try:
        add_members(state, args.member)
    except ValueError as exc:
        parser.error(f"--member: {exc}")
    server = SandboxServer(state, host=args.host, port=args.port, entra_port=args.entra_port)
    print(f"Graph sandbox: {server.graph_base_url} (controls: {server.url}/_sandbox/state)",
          flush=True)
    print(f"Entra: authority={server.authority_host} tenant={TENANT_ID} "
          f"client_id={CLIENT_ID} secret={CLIENT_SECRET} ca_file={server.ca_file}", flush=True)
    print(f"Incident Desk: GRAPH_BASE_URL={server.graph_base_url}"
          + (f" GRAPH_SANDBOX_DB={os.path.abspath(args.db)}" if args.db else "")
          + f" (with Entra sign-in add ENTRA_TENANT_ID={TENANT_ID} ENTRA_CLIENT_ID={CLIENT_ID}"
          f" ENTRA_CLIENT_SECRET={CLIENT_SECRET} ENTRA_AUTHORITY_HOST={server.authority_host}"
          f" ENTRA_CA_BUNDLE={server.ca_file})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
