"""Running the sandbox: werkzeug's threaded server on a background thread."""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from graph.sandbox.app import SandboxApp
from graph.sandbox.faults import Faults
from graph.sandbox.state import SandboxState


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        """The sandbox keeps its own request log (SandboxState.requests())."""


class SandboxServer:
    """`with SandboxServer() as sandbox: GraphClient(sandbox.graph_base_url, ...)`."""

    def __init__(self, state: SandboxState | None = None, faults: Faults | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        self.state = state if state is not None else SandboxState()
        self.faults = faults if faults is not None else Faults()
        self.app = SandboxApp(self.state, self.faults)
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=_QuietHandler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """e.g. http://127.0.0.1:53211"""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def graph_base_url(self) -> str:
        return f"{self.url}/v1.0"

    def workflow_url(self, flow_id: str) -> str:
        """A Teams Workflows webhook address (registered with state.add_workflow)."""
        return (f"{self.url}/workflows/{flow_id}/triggers/manual/paths/invoke"
                "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sandbox")

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="graph-sandbox", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Run in the calling thread (the standalone `python -m graph.sandbox`)."""
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
