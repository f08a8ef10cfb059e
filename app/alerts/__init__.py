"""Alerts from monitoring tools: `parse.py` normalises webhook payloads (pure: no Flask,
no database); `service.py` opens or updates incidents from them; `routes.py` is the
intake and the alert sources page."""
