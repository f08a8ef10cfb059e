"""Declaring and running incidents: models, rules, service and timeline (their pages are
in app/web/incidents)."""
