"""The incident pages: the list, declare, show, edit, notes, roles and status."""
