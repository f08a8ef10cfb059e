"""Reminders about open incidents: `schedule.py` decides what is due (pure rules),
`digest.py` groups it by recipient, and `service.py` sends each group once (run every
minute by the scheduler)."""
