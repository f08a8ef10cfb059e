"""The follow-up actions pages: the list of open actions, adding and editing one."""
