"""Running the sandbox: werkzeug's threaded server on a background thread."""

from __future__ import annotations

import os
import shutil
import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from graph.sandbox.app import SandboxApp
from graph.sandbox.faults import Faults
from graph.sandbox.state import SandboxState
from graph.sandbox.tls import make_certificate, server_context
from graph.tokens import forget_sandbox_tokens


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        """The sandbox keeps its own request log (SandboxState.requests())."""


class SandboxServer:
    """`with SandboxServer() as sandbox: GraphClient(sandbox.graph_base_url, ...)`."""

    def __init__(self, state: SandboxState | None = None, faults: Faults | None = None,
                 host: str = "127.0.0.1", port: int = 0, entra_port: int = 0):
        self.state = state if state is not None else SandboxState()
        self.faults = faults if faults is not None else Faults()
        self.app = SandboxApp(self.state, self.faults)
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=_QuietHandler)
        self._server.daemon_threads = True
        # Entra's endpoints over TLS: MSAL talks only to https:// authorities.
        self.ca_file, key_file = make_certificate()
        self._entra = make_server(host, entra_port, self.app, threaded=True,
                                  request_handler=_QuietHandler,
                                  ssl_context=server_context(self.ca_file, key_file))
        self._entra.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """e.g. http://127.0.0.1:53211"""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def graph_base_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def authority_host(self) -> str:
        """Entra's address for MSAL (`https://127.0.0.1:PORT`); trust `ca_file` for it."""
        host, port = self._entra.server_address[:2]
        return f"https://{host}:{port}"

    def workflow_url(self, flow_id: str) -> str:
        """A Teams Workflows webhook address (registered with state.add_workflow)."""
        return (f"{self.url}/workflows/{flow_id}/triggers/manual/paths/invoke"
                "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sandbox")

    def start(self) -> SandboxServer:
        if not self._threads:
            for server, name in ((self._server, "graph-sandbox"),
                                 (self._entra, "graph-sandbox-entra")):
                thread = threading.Thread(target=server.serve_forever,
                                          kwargs={"poll_interval": 0.05}, name=name,
                                          daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        """Run in the calling thread (the standalone `python -m graph.sandbox`)."""
        self.start()
        for thread in self._threads:
            thread.join()

    def stop(self) -> None:
        if self._threads:
            self._server.shutdown()
            self._entra.shutdown()
            for thread in self._threads:
                thread.join(5)
            self._threads = []
        self._server.server_close()
        self._entra.server_close()
        forget_sandbox_tokens(self.graph_base_url)  # its port may serve another sandbox
        shutil.rmtree(os.path.dirname(self.ca_file), ignore_errors=True)  # its certificate

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
