"""The app served over real HTTP with the Graph sandbox as its Bot Connector."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from app.m365.sandbox_host import sandbox_for
from tests.conftest import end_app, make_settings, start_app


@pytest.fixture
def bot_app(migrated, redis_url, tmp_path):
    """(app, its /api/messages URL, the sandbox server the bot trusts and replies to)."""
    settings = make_settings(migrated, redis_url=redis_url, graph_base_url=None,
                             graph_sandbox_db=str(tmp_path / "graph-sandbox.db"),
                             graph_start_check=False)
    application = start_app(settings)
    application.config["SERVER_NAME"] = None  # answer on 127.0.0.1:port
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield application, f"http://{host}:{port}/api/messages", sandbox_for(application)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        end_app(application)
