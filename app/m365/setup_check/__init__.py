"""The Microsoft 365 set-up check: harmless requests, as each kind of work makes them,
that tell an administrator what their tenant (or the sandbox) is missing and what fixes it.

`run_check` (runner.py) is what the page and `flask m365-check` call; the probes live by
area (sign_in, teams, outlook, sharepoint), what a refusal means in answers.py, and the
fixes' wording in fixes.py. Nothing here is in graph/: it only uses the `Graph` port.
"""

from app.m365.setup_check.results import Finding, Report
from app.m365.setup_check.runner import run_check

__all__ = ["Finding", "Report", "run_check"]
