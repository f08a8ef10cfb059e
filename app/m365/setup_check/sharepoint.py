"""Probes of SharePoint, as the app: the contacts list it reads and the reports library it
writes, each reached through a Sites.Selected grant on that one site.

Reading one list item and reading the template are harmless as they are. Writing is
tried by opening an upload session and cancelling it before any byte is sent: SharePoint
makes the file only when its last byte arrives, so none is made.
"""

from __future__ import annotations

import uuid

from app.m365.setup_check import fixes
from app.m365.setup_check.answers import DONE, INVALID, NOT_FOUND, REFUSED, Answer, attempt
from app.m365.setup_check.context import Run, probe
from app.m365.setup_check.results import Outcome, failed, not_applicable, not_checked, passed

NEEDS_APP = "Needs Incident Desk's own token (see above)."
DRIVE_FIX = fixes.setting("M365_REPORTS_DRIVE_ID", "the drive id of the document library "
                                                   "reports go to (GET /sites/{site-id}/drives)")


def _failure(answer: Answer, grant: fixes.Fix, not_found_fix: str) -> Outcome:
    if answer.kind == REFUSED:
        return failed(answer.said, grant)
    if answer.kind == NOT_FOUND:
        return failed(answer.said, not_found_fix)
    return failed(answer.said, fixes.try_again())


def _reports_site(drive: str) -> str:
    return f"the site that holds the reports library {drive} (M365_REPORTS_DRIVE_ID)"


@probe("contacts-list", "Read the contacts list",
       "Sites.Selected, application: read on M365_CONTACTS_SITE_ID")
def contacts_list(run: Run) -> Outcome:
    """Reads the list's first item ($top=1): a read."""
    site, list_id = run.installation.contacts_site_id, run.installation.contacts_list_id
    if not (site and list_id):
        return failed("M365_CONTACTS_SITE_ID and M365_CONTACTS_LIST_ID are not both set.",
                      fixes.setting("M365_CONTACTS_SITE_ID and M365_CONTACTS_LIST_ID",
                                    "the SharePoint site and list of your contacts"))
    if run.as_app is None:
        return not_checked(NEEDS_APP)
    answer = attempt(lambda: next(iter(run.as_app.list_items(site, list_id, page_size=1)),
                                  None))
    if answer.kind != DONE:
        return _failure(answer, fixes.site_grant(
            "read", f"the contacts site {site} (M365_CONTACTS_SITE_ID)"), fixes.setting(
            "M365_CONTACTS_SITE_ID and M365_CONTACTS_LIST_ID", "a site id and the id of a "
            "list on that site"))
    return passed(f"The app read the list {list_id} on the site {site}.")


@probe("reports-folder", "Write reports into the reports folder",
       "Sites.Selected, application: write on the site of M365_REPORTS_DRIVE_ID")
def reports_folder(run: Run) -> Outcome:
    """Opens an upload session for a new, uniquely named file in the reports folder, then
    cancels it (DELETE on its upload URL) before sending a byte: SharePoint checks the
    app's write grant before it opens a session (403 without), and makes a file only when
    its last byte arrives, so none is made."""
    drive, folder = run.installation.reports_drive_id, run.installation.reports_folder
    if not drive:
        return failed("M365_REPORTS_DRIVE_ID is not set.", DRIVE_FIX)
    if run.as_app is None:
        return not_checked(NEEDS_APP)
    name = f"Incident Desk set-up check {uuid.uuid4().hex}.docx"
    answer = attempt(lambda: run.as_app.start_upload_session(drive, folder, name))
    if answer.kind == INVALID:  # e.g. the unique name taken after all: it looked, so it may
        return passed(f"SharePoint let the app write in “{folder}” ({answer.said}).")
    if answer.kind != DONE:
        return _failure(answer, fixes.site_grant("write", _reports_site(drive)), DRIVE_FIX)
    cancelled = attempt(lambda: run.as_app.cancel_upload_session(answer.value))
    if cancelled.kind != DONE:
        expires = answer.value.expires_at
        return passed(f"SharePoint opened an upload session in “{folder}”; cancelling it "
                      f"failed ({cancelled.said}), so it ends unused"
                      + (f" at {expires:%Y-%m-%d %H:%M} UTC" if expires else "")
                      + " and never becomes a file.")
    return passed(f"SharePoint opened an upload session in “{folder}”, cancelled before any "
                  "byte was sent: no file was made.")


@probe("report-template", "Read the report template", "M365_REPORT_TEMPLATE")
def report_template(run: Run) -> Outcome:
    """Downloads the template from the reports library: a read."""
    drive, path = run.installation.reports_drive_id, run.installation.report_template_path
    if not path:
        return not_applicable("M365_REPORT_TEMPLATE is not set: reports use a template "
                              "uploaded in Incident Desk, or the built-in look.")
    if not drive:
        return failed("M365_REPORTS_DRIVE_ID is not set.", DRIVE_FIX)
    if run.as_app is None:
        return not_checked(NEEDS_APP)
    answer = attempt(lambda: run.as_app.get_file(drive, path))
    if answer.kind != DONE:
        return _failure(answer, fixes.site_grant("write", _reports_site(drive)),
                        fixes.setting("M365_REPORT_TEMPLATE", "the path of a .docx in the "
                                      "reports library, e.g. Templates/Incident report.docx"))
    return passed(f"“{path}” ({len(answer.value):,} bytes) was read from the reports library.")
