"""Follow-up actions agreed after an incident: an owner, a due date, a link, tracked to
done, and chased when overdue (playbooks 003 and 004)."""
