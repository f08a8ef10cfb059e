"""Word reports kept in SharePoint: which exist for an incident, writing them in jobs,
the review that feeds them, and the organisation's template.

The documents themselves are made by the pure builders in the top-level `reports`
package; this package feeds them from the database and puts the result in SharePoint.
"""
