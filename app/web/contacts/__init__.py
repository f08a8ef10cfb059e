"""The stakeholder contacts page and its sync from SharePoint."""
