"""JSON API for automation: each endpoint calls the service function its web form calls,
with the same form validation and choices (tests/test_api_web_parity.py compares them)."""
