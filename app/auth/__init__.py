"""Sign-in (Microsoft Entra or dev), users, API tokens."""
