"""Report pages: download a report, write one again, the review, the org's template."""

from __future__ import annotations

from io import BytesIO

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required

from app.actions import service as actions
from app.actions.models import STATUSES
from app.core import clock
from app.db import Session
from app.documents import downloads, service, snapshot, templates
from app.documents import review as reviews
from app.documents.kinds import KINDS, REVIEW_DRAFT
from app.documents.models import ReportFile, ReportTemplate
from app.incidents import service as incidents
from app.incidents.rules import RuleError
from app.m365.plans import review_booking
from app.outbox import service as outbox
from app.review_meetings.models import ReviewMeeting
from app.web.documents.forms import RemoveTemplateForm, ReviewForm, TemplateForm, WriteAgainForm
from app.web.documents.panel import downloadable
from app.web.pages import incident_or_404
from app.web.review_meetings.forms import MeetingForm
from reports import TemplateError
from reports.review import PROMPTS

bp = Blueprint("documents", __name__)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


def _org():
    return current_app.extensions["org"]


@bp.get("/incidents/<reference>/reports/<kind>.docx")
def download(reference: str, kind: str):
    """The report as the incident stands now (what the next write to SharePoint will
    contain): built once per version of what it is built from (documents.downloads)."""
    incident = incident_or_404(reference)
    review = reviews.get(Session, incident)
    allowed = {k.key for k in downloadable(_org(), incident, review is not None)}
    if kind not in allowed:
        abort(404)
    settings = current_app.extensions["settings"]
    snap = snapshot.take(Session, _org(), snapshot.load_incident(Session, incident.id),
                         timezone=settings.timezone, organisation=settings.organisation_name)
    names = bool(review and review.name_people_in_draft) if kind == REVIEW_DRAFT else True
    cache = current_app.extensions.setdefault(downloads.EXTENSION, downloads.BuildCache())
    try:
        built = downloads.build(cache, snap, kind, templates.for_download(Session), names)
    except downloads.Busy:
        return render_template(
            "errors/error.html", status=429, title="Reports are busy",
            body="Several reports are being made just now: try again in a minute. "
                 "Nothing was lost."), 429, {"Retry-After": "30"}
    if built.template_failed:
        flash("The report template could not be used, so this download has the built-in "
              "look. An administrator can upload a working template.", "error")
    content = built.content
    existing = Session.query(ReportFile).filter_by(incident_id=incident.id, kind=kind).first()
    name = existing.file_name if existing else KINDS[kind].file_name(
        incident.declared_at.astimezone(current_app.extensions["installation"].timezone).date(),
        incident.reference)
    response = send_file(BytesIO(content), mimetype=DOCX, as_attachment=True,
                         download_name=name)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/incidents/<reference>/reports/<int:report_id>/write")
def write_again(reference: str, report_id: int):
    incident = incident_or_404(reference)
    report = Session.get(ReportFile, report_id)
    if report is None or report.incident_id != incident.id:
        abort(404)
    if not WriteAgainForm().validate_on_submit():
        abort(400)
    key = service.key_of(incident, report.kind)
    write = outbox.by_keys(Session, [key]).get(key)
    if write is not None:  # again now, whatever its state (never while being written)
        outbox.retry(Session, write, even_if_done=True)
    flash(f"Writing the {KINDS[report.kind].label.lower()} again.", "success")
    return redirect(url_for("incidents.show", reference=reference, _anchor="reports"))


@bp.route("/incidents/<reference>/review", methods=["GET", "POST"])
def review(reference: str):
    incident = incident_or_404(reference)
    existing = reviews.get(Session, incident)
    form = ReviewForm(obj=existing if request.method == "GET" else None)
    if request.method == "GET" and existing is not None:
        for i, question in enumerate(PROMPTS):
            getattr(form, f"answer_{i}").data = existing.answers.get(question, "")
    status = 200
    if not reviews.can_review(incident):
        flash("The review starts once the incident is resolved.", "error")
        return redirect(url_for("incidents.show", reference=reference))
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            write = "final" if form.write_final.data else "draft" if form.write_draft.data \
                else None
            try:
                asked = reviews.save(Session, _org(), current_user, incident, _findings(form),
                                     write, installation=current_app.extensions["installation"],
                                     outbox=outbox)
            except RuleError as error:
                error.attach_to(form)
            else:
                flash(_saved_message(write, asked), "success")
                return redirect(url_for("incidents.show", reference=reference,
                                        _anchor="reports"))

    meeting = Session.get(ReviewMeeting, incident.id)
    meeting_form = None
    if meeting is not None:
        meeting_form = MeetingForm(prefix="meeting", data={
            "facilitator": meeting.facilitator_id or 0, "note_taker": meeting.note_taker_id or 0,
            "attended": meeting.attended})
        meeting_form.set_choices(incidents.assignable_users(Session), meeting.invited)
    found = actions.for_incident(Session, incident)
    today = clock.today(current_app.extensions["installation"].timezone)
    return render_template("documents/review.html", form=form, incident=incident,
                           review=existing, prompts=PROMPTS, actions=found, statuses=STATUSES,
                           today=today, action_nudge=actions.nudge(len(found)),
                           meeting=meeting, meeting_form=meeting_form,
                           booking=review_booking(Session, incident)
                           if meeting else None), status


def _findings(form: ReviewForm) -> reviews.Findings:
    return reviews.Findings(
        summary=form.summary.data or "", impact_summary=form.impact_summary.data or "",
        users_affected=form.users_affected.data,
        contributing_factors=form.contributing_factors.data or "",
        what_went_well=form.what_went_well.data or "",
        lessons_learnt=form.lessons_learnt.data or "",
        public_summary=form.public_summary.data or "", answers=form.answers(),
        name_people_in_draft=bool(form.name_people_in_draft.data))


def _saved_message(write: str | None, asked: list[int]) -> str:
    if write is None:
        return "Review saved."
    which = "final" if write == "final" else "draft"
    if asked:
        return f"Review saved. The {which} report is being written to SharePoint."
    return f"Review saved. Download the {which} report below."


@bp.route("/reports/template", methods=["GET", "POST"])
def template():
    """The organisation's Word template (administrators only)."""
    if not current_user.is_admin:
        abort(403)
    form = TemplateForm()
    remove_form = RemoveTemplateForm(prefix="remove")
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            upload = form.template.data
            try:
                templates.upload(Session, upload.filename or "template.docx", upload.read(),
                                 current_user)
            except TemplateError as error:
                form.template.errors = [*form.template.errors, str(error)]
            else:
                flash("Template uploaded: every report written from now on uses it.",
                      "success")
                return redirect(url_for("documents.template"))
    installation = current_app.extensions["installation"]
    return render_template(
        "documents/template.html", form=form, remove_form=remove_form,
        uploaded=Session.get(ReportTemplate, templates.UPLOADED),
        sharepoint=Session.get(ReportTemplate, templates.SHAREPOINT),
        sharepoint_path=installation.report_template_path), status


@bp.post("/reports/template/remove")
def remove_template():
    if not current_user.is_admin:
        abort(403)
    if not RemoveTemplateForm(prefix="remove").validate_on_submit():
        abort(400)
    templates.remove_upload(Session)
    flash("The uploaded template is removed.", "success")
    return redirect(url_for("documents.template"))
