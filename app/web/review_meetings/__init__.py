"""Booking the post-incident review meeting from the incident page."""
