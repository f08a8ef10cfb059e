"""The reporting page and the monthly summary download."""
