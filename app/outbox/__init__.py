"""The outbox: Microsoft 365 work stored with the change that caused it, then delivered."""
