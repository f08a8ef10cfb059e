"""`python -m graph.sandbox --port 5001 --db instance/graph-sandbox.db`"""

import argparse

from graph.sandbox import SandboxServer, SandboxState, seed_defaults

parser = argparse.ArgumentParser(description="Run the local Microsoft Graph sandbox.")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=5001)
parser.add_argument("--db", default=None, help="SQLite file to keep state in")
args = parser.parse_args()
state = SandboxState(args.db)
seed_defaults(state)
server = SandboxServer(state, host=args.host, port=args.port)
print(f"Graph sandbox on {server.graph_base_url}")
server.start()._thread.join()
