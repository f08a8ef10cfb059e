"""Which of Microsoft Graph's throttling limits (app/outbox/pacing.py) each kind of
delivery counts against, and under which keys, for the runner to pace it.

Graph counts per app and this deployment is one app, so a key names only the resource:
the channel a card goes to, the tenant, the mailbox a mail or event is sent from.
"""

from __future__ import annotations

from app.m365 import plans
from app.outbox import pacing
from app.outbox.models import Delivery


def need_of(delivery: Delivery) -> pacing.Need | None:
    if delivery.kind == plans.POST:
        where = channel_of(delivery)
        if where is None:
            return None  # the handler refuses it without calling Graph
        channel = "teams:channel:{}:{}".format(*where)
        return pacing.Need(rates=(
            (channel, pacing.TEAMS_POSTS_PER_CHANNEL),
            (f"{channel}:day", pacing.TEAMS_POSTS_PER_CHANNEL_PER_DAY),
            ("teams:tenant", pacing.TEAMS_POSTS_PER_TENANT)))
    if delivery.kind in (plans.CREATE_CHANNEL, plans.ADD_MEMBER):
        team = f"teams:team:{delivery.payload['team_id']}"
        rates = [(team, pacing.TEAMS_REQUESTS_PER_TEAM)]
        if delivery.kind == plans.CREATE_CHANNEL:
            rates.append(("teams:channel-writes", pacing.TEAMS_CHANNEL_WRITES_PER_TENANT))
        return pacing.Need(rates=tuple(rates))
    if delivery.kind in (plans.MAIL, plans.EVENT):
        box = f"outlook:{mailbox_of(delivery)}"
        return pacing.Need(
            rates=((f"{box}:requests", _per_delivery(pacing.OUTLOOK_REQUESTS_PER_MAILBOX)),),
            slots=((box, pacing.OUTLOOK_CONCURRENT_PER_MAILBOX),))
    return None


# A mail makes up to three Outlook requests (looking for an earlier draft, the draft,
# its send), and a booking counts one: so a mailbox's request limit is booked in thirds.
OUTLOOK_REQUESTS_PER_DELIVERY = 3


def _per_delivery(rate: pacing.Rate) -> pacing.Rate:
    return pacing.Rate(rate.limit // OUTLOOK_REQUESTS_PER_DELIVERY, rate.seconds)


def channel_of(delivery: Delivery) -> tuple[str, str] | None:
    """(team, channel) a post goes to: its own, or the incident channel's once made (as
    handlers.PostToChannel reads it)."""
    p = delivery.payload
    if p.get("channel") != "incident":
        return p["team_id"], p["channel_id"]
    made = delivery.depends_on.result if delivery.depends_on is not None else {}
    if not made.get("channel_id"):
        return None
    return made["team_id"], made["channel_id"]


def mailbox_of(delivery: Delivery) -> str:
    """The shared mailbox it is sent from, else the acting person's own."""
    box = delivery.payload.get("mailbox") or (delivery.actor.email if delivery.actor else "")
    return (box or "me").lower()
