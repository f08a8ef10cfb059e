"""Schedules for `rq cron app/cron.py`: the outbox sweep that makes delivery resumable,
and the SharePoint contacts sync."""

from rq import cron

from app.core.jobs import QUEUE_NAME
from app.jobs import sweep_outbox, sync_contacts

cron.register(sweep_outbox, QUEUE_NAME, interval=60, name="sweep-outbox")
cron.register(sync_contacts, QUEUE_NAME, interval=15 * 60, name="sync-contacts")
