"""Microsoft 365 work for incidents: what to send, how to send it, and where it went."""
