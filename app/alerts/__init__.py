"""Alert webhook payloads from monitoring tools, normalised (pure: no Flask, no database)."""
