"""The public status page and its Atom feed."""
