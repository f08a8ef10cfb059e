"""Hand-over pages (linked from the email and Teams card) and bringing people in."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.auth.models import User
from app.db import Session
from app.incidents import service as incidents
from app.incidents.pages import incident_or_404
from app.incidents.rules import RuleError
from app.people import service
from app.people.forms import AcceptForm, BringInForm, DeclineForm, WithdrawForm
from app.people.models import RoleHandover

bp = Blueprint("people", __name__, url_prefix="/incidents")


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


def _handover_or_404(reference: str, handover_id: int) -> RoleHandover:
    incident = incident_or_404(reference)
    handover = Session.get(RoleHandover, handover_id)
    if handover is None or handover.incident_id != incident.id:
        abort(404)
    return handover


def _ext(name: str):
    return current_app.extensions[name]


@bp.get("/<reference>/handovers/<int:handover_id>")
def handover(reference: str, handover_id: int):
    item = _handover_or_404(reference, handover_id)
    return _render(item)


def _render(item: RoleHandover, status: int = 200, **forms):
    return render_template(
        "people/handover.html", handover=item, incident=item.incident,
        role=_ext("org").role(item.role),
        accept_form=forms.get("accept_form", AcceptForm(prefix="accept")),
        decline_form=forms.get("decline_form", DeclineForm(prefix="decline")),
        withdraw_form=forms.get("withdraw_form", WithdrawForm(prefix="withdraw")),
        error=forms.get("error")), status


@bp.post("/<reference>/handovers/<int:handover_id>/accept")
def accept(reference: str, handover_id: int):
    item = _handover_or_404(reference, handover_id)
    form = AcceptForm(prefix="accept")
    if not form.validate_on_submit():
        return _render(item, 400, accept_form=form)
    try:
        service.accept(Session, _ext("org"), _ext("targets"), current_user, item)
    except RuleError as error:
        return _render(item, 400, error=error.message)
    role = _ext("org").role(item.role)
    flash(f"You are now {role.label.lower() if role else item.role}.", "success")
    return redirect(url_for("incidents.show", reference=reference, _anchor="roles"))


@bp.post("/<reference>/handovers/<int:handover_id>/decline")
def decline(reference: str, handover_id: int):
    item = _handover_or_404(reference, handover_id)
    form = DeclineForm(prefix="decline")
    if not form.validate_on_submit():
        return _render(item, 400, decline_form=form)
    try:
        service.decline(Session, _ext("org"), _ext("targets"), current_user, item,
                        form.reason.data or "")
    except RuleError as error:
        return _render(item, 400, error=error.message)
    flash("You declined the hand-over; the person who asked has been told.", "success")
    return redirect(url_for("incidents.show", reference=reference, _anchor="roles"))


@bp.post("/<reference>/handovers/<int:handover_id>/withdraw")
def withdraw(reference: str, handover_id: int):
    item = _handover_or_404(reference, handover_id)
    form = WithdrawForm(prefix="withdraw")
    if not form.validate_on_submit():
        return _render(item, 400, withdraw_form=form)
    try:
        service.cancel(Session, _ext("org"), current_user, item)
    except RuleError as error:
        return _render(item, 400, error=error.message)
    flash("Hand-over request withdrawn.", "success")
    return redirect(url_for("incidents.show", reference=reference, _anchor="roles"))


@bp.post("/<reference>/people")
def bring_in(reference: str):
    incident = incident_or_404(reference)
    form = BringInForm(prefix="people")
    form.set_choices(incidents.assignable_users(Session))
    if form.validate_on_submit():
        user = Session.get(User, form.user.data)
        try:
            service.bring_in(Session, _ext("targets"), current_user, incident, user)
        except RuleError as error:
            form.user.errors = [*form.user.errors, error.message]
        else:
            flash(f"{user.name} is now working on this incident.", "success")
            return redirect(url_for("incidents.show", reference=reference, _anchor="people"))
    from app.incidents.routes import render_show

    return render_show(incident, 400, people_form=form)
