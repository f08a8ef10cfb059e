"""Alerts from monitoring tools: `parse.py` normalises webhook payloads (pure: no Flask,
no database); `service.py` opens or updates incidents from them. The intake webhook and
the alert sources page are in app/web/alerts."""
