"""Running the sandbox: a werkzeug server on a background thread."""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from graph.sandbox.app import SandboxApp
from graph.sandbox.faults import Faults
from graph.sandbox.state import SandboxState


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        """The sandbox keeps its own request log (state.requests())."""


class SandboxServer:
    def __init__(self, state: SandboxState | None = None, faults: Faults | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        self.state = state or SandboxState()
        self.faults = faults or Faults()
        self.app = SandboxApp(self.state, self.faults)
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=_Quiet)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def graph_base_url(self) -> str:
        return f"{self.url}/v1.0"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="graph-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
