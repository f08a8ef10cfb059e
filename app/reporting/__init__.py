"""Reporting: incidents by severity and service, how fast they were picked up and
resolved, follow-up actions, and the monthly summary for the board (playbook 000)."""
