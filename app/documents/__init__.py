"""Word reports kept in SharePoint: which exist for an incident and when they are asked
for again (service), what goes into each file (writer), the review that feeds them, and
the organisation's template.

The documents themselves are made by the pure builders in the top-level `reports`
package; writing a file into SharePoint is outbox work (app/m365/report_handler.py).
"""
