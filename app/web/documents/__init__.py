"""Report downloads and writes, the review form, the template page, the reports panel."""
