"""Declaring and running incidents: models, rules, service, forms and pages."""
