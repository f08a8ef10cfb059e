"""The launcher's relay signs only its own Playground's activities."""

from __future__ import annotations

import json

import requests

from graph.sandbox import SandboxState
from scripts.playground import Relay


def test_the_relay_signs_only_its_playgrounds_activities():
    relay = Relay(SandboxState(None), "http://127.0.0.1:9/api/messages").start()
    try:
        relay.service_url = "http://localhost:41234/_connector"
        other = {"type": "message", "text": "hi", "serviceUrl": "https://attacker.example/"}
        answer = requests.post(relay.url, data=json.dumps(other), timeout=5,
                               headers={"Content-Type": "application/json"})
        assert answer.status_code == 403
        answer = requests.post(relay.url, data=b"not json", timeout=5)
        assert answer.status_code == 400
        ours = {**other, "serviceUrl": relay.service_url}
        answer = requests.post(relay.url, data=json.dumps(ours), timeout=5)
        assert answer.status_code == 502  # signed and sent on; nobody listens on port 9
    finally:
        relay.stop()
