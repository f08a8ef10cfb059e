"""Snoozing an incident's reminder."""
