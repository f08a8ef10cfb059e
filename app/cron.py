"""Schedules for `rq cron app/cron.py`: the outbox sweep that makes delivery resumable,
the reminders, the SharePoint contacts sync, and archiving closed incidents' Teams
channels."""

from rq import cron

from app.core.jobs import QUEUE_NAME
from app.jobs import archive_channels, send_reminders, sweep_outbox, sync_contacts

cron.register(sweep_outbox, QUEUE_NAME, interval=60, name="sweep-outbox")
cron.register(send_reminders, QUEUE_NAME, interval=60, name="send-reminders")
cron.register(sync_contacts, QUEUE_NAME, interval=15 * 60, name="sync-contacts")
cron.register(archive_channels, QUEUE_NAME, interval=60, name="archive-channels")
