"""The incident's people: bringing someone in, and accepting role hand-overs."""
