"""POST /api/messages: the Bot Connector's door. Authenticated before the SDK sees the
activity (app/bot/inbound.py); a refusal is 401 and a log line with the reason only.

The SDK is asyncio and Flask's views are not: each request runs the adapter's coroutine
with asyncio.run, a fresh loop on the worker thread that ends with the request, so no loop
outlives a request or is shared between threads (gunicorn's or the dev server's)."""

from __future__ import annotations

import asyncio
import json

from flask import Blueprint, current_app, jsonify, request

from app.bot.adapter import FlaskActivityRequest, FlaskBotAdapter
from app.bot.identity import NOT_SET_UP, identity_for
from app.bot.inbound import Rejected, authenticate
from app.bot.turns import IncidentDeskBot
from app.extensions import csrf

MAX_ACTIVITY_BYTES = 256 * 1024  # Teams caps a message at about 100 KB (28 KB of text)

bp = Blueprint("bot", __name__)


def _refuse(reason: str):
    current_app.logger.warning("bot: refused an activity from %s: %s", request.remote_addr,
                               reason)
    return jsonify({"error": "Unauthorized"}), 401


@bp.post("/api/messages")
@csrf.exempt
def messages():
    identity = identity_for(current_app)
    if identity is None:
        settings = current_app.extensions["settings"]
        return jsonify({"error": NOT_SET_UP if settings.bot_enabled
                        else "The Teams bot is not enabled."}), 404
    if (request.content_length or 0) > MAX_ACTIVITY_BYTES:
        return jsonify({"error": "The activity is too large."}), 413
    raw = request.get_data(cache=False)[:MAX_ACTIVITY_BYTES + 1]
    if len(raw) > MAX_ACTIVITY_BYTES:
        return jsonify({"error": "The activity is too large."}), 413
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return jsonify({"error": "The body must be a JSON activity."}), 400
    headers = dict(request.headers)
    adapter = FlaskBotAdapter(identity, current_app.logger)

    async def turn():
        """Authenticated, then the turn: one event loop for both."""
        claims = await authenticate(identity, headers.get("Authorization", ""), body)
        return await adapter.process_request(FlaskActivityRequest(headers, body, claims),
                                             IncidentDeskBot())

    try:
        answer = asyncio.run(turn())
    except Rejected as refusal:
        return _refuse(str(refusal))
    if answer.status_code == 401:
        return _refuse("the SDK refused the activity")
    if answer.body is None:
        return "", answer.status_code
    return jsonify(answer.body), answer.status_code
