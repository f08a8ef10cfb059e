"""Writing and sending a status update."""
