"""The post-incident review meeting: booked in Outlook when an incident is resolved,
with a facilitator who was not involved and a note-taker (playbooks 001 and 003)."""
