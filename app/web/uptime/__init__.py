"""Uptime checks' pages: administrators add, change and disable a service's checks."""
