"""JSON API for automation: the same service functions and validation as the web forms."""
