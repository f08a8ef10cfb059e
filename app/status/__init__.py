"""The public status page and its Atom feed: no sign-in, only what was written to be
published (playbooks 000-002), never anything about a security incident."""
