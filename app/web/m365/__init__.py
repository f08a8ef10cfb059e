"""Microsoft 365 pages: the delivery panel and retries, Teams messages, set-up, sandbox."""
