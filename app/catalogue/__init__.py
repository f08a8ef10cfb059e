"""The service catalogue: dependencies between services, suppliers and their support
routes, and the organisation's escalation chain (playbooks 000 and 001)."""
