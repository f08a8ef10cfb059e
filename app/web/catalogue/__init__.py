"""The service catalogue pages: services, suppliers and the escalation chain."""
