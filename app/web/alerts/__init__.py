"""The alert intake webhook and the alert sources page."""
