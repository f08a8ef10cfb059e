"""Posting an Adaptive Card through a Teams Workflows webhook ("When a Teams webhook
request is received"), the replacement for Office 365 connectors.

It needs nobody's token: the workflow posts as the Workflows app into the channel its
owner chose. That is what lets an announcement go out when nobody is behind the work (an
incident opened by an alert) or when the person's Microsoft sign-in has lapsed.

The webhook answers 202 and cannot be asked afterwards what it posted, so a call that got
no answer must not be repeated automatically: `Unconfirmed` hands it to a person.
"""

from __future__ import annotations

import requests

from graph.port import CARD_CONTENT_TYPE, GraphError, InvalidRequest, NotFound, Unconfirmed

__all__ = ["Unconfirmed", "message", "post_card"]

TIMEOUT = 15.0


def message(card: dict) -> dict:
    """The body the Workflows trigger's "Post card in a chat or channel" step expects."""
    return {"type": "message",
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None,
                             "content": card}]}


def post_card(url: str, card: dict, timeout: float = TIMEOUT) -> None:
    """Post one card; raises GraphError (retryable for throttling, outages, timeouts)."""
    try:
        response = requests.post(url, json=message(card), timeout=timeout)
    except requests.Timeout as exc:
        raise GraphError(f"the Teams webhook did not answer in {timeout:g} s",
                         status=0) from exc
    except requests.RequestException as exc:
        raise GraphError(f"the Teams webhook could not be reached: {exc}", status=0) from exc
    if response.status_code in (200, 201, 202):
        return
    retry_after = _seconds(response.headers.get("Retry-After"))
    detail = _detail(response)
    if response.status_code == 404:
        raise NotFound(f"The Teams webhook was not found (the workflow may have been "
                       f"deleted or turned off): {detail}", status=404)
    if response.status_code in (400, 401, 403):
        raise InvalidRequest(f"The Teams webhook refused the card: {detail}",
                             status=response.status_code)
    raise GraphError(f"The Teams webhook answered {response.status_code}: {detail}",
                     status=response.status_code, retry_after=retry_after)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _detail(response: requests.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or error.get("code") or response.reason)[:300]
    except (ValueError, AttributeError):
        return (response.text or response.reason or "")[:300]
