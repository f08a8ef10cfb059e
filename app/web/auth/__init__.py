"""Sign-in and sign-out, and the account's API tokens page."""
