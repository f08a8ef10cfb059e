"""Who is working an incident: its participants, and role hand-overs that the new holder
accepts before the old one is released."""
