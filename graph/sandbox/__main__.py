"""`python -m graph.sandbox --port 5001 --db instance/graph-sandbox.db`: the sandbox on its
own, with the default tenant (graph.sandbox.seed)."""

from __future__ import annotations

import argparse
import os

from graph.sandbox import SandboxServer, SandboxState, seed_defaults
from graph.sandbox.seed import CLIENT_ID, CLIENT_SECRET
from graph.sandbox.wire import TENANT_ID


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local Microsoft Graph sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--entra-port", type=int, default=0,
                        help="port of the TLS listener for Entra's endpoints (default: any)")
    parser.add_argument("--db", default=None,
                        help="SQLite file to keep state in (default: in memory)")
    args = parser.parse_args(argv)
    if args.db:
        os.makedirs(os.path.dirname(os.path.abspath(args.db)), exist_ok=True)
    state = SandboxState(args.db)
    seed_defaults(state)
    server = SandboxServer(state, host=args.host, port=args.port, entra_port=args.entra_port)
    print(f"Graph sandbox: {server.graph_base_url} (controls: {server.url}/_sandbox/state)",
          flush=True)
    print(f"Entra: authority={server.authority_host} tenant={TENANT_ID} "
          f"client_id={CLIENT_ID} secret={CLIENT_SECRET} ca_file={server.ca_file}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
