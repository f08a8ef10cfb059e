"""Reminders about open incidents: pure rules deciding what is due, for the cron job."""
