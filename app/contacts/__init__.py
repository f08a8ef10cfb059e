"""Stakeholder contacts, read from a SharePoint list."""
