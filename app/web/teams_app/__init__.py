"""The Teams app page for administrators, and the privacy and terms pages its manifest
links to."""
