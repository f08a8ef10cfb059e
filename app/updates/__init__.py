"""Status updates: written once, sent to the incident channel and to stakeholders."""
