"""Hand-over pages (linked from the email and Teams card) and bringing people in."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.db import Session
from app.incidents.rules import RuleError
from app.people import service
from app.people.models import RoleHandover
from app.web.pages import incident_or_404
from app.web.people.forms import AcceptForm, DeclineForm, WithdrawForm

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


def _answer(reference: str, handover_id: int, form, form_name: str, act):
    """What accepting, declining and withdrawing share: check the form, `act(item,
    form)` (which returns what to tell the person), show a rule it broke on the
    hand-over page, or go back to the incident's roles."""
    item = _handover_or_404(reference, handover_id)
    if not form.validate_on_submit():
        return _render(item, 400, **{form_name: form})
    try:
        message = act(item, form)
    except RuleError as error:
        return _render(item, 400, error=error.message)
    flash(message, "success")
    return redirect(url_for("incidents.show", reference=reference, _anchor="roles"))


@bp.post("/<reference>/handovers/<int:handover_id>/accept")
def accept(reference: str, handover_id: int):
    def act(item, _form) -> str:
        service.accept(Session, _ext("org"), _ext("effects"), current_user, item)
        role = _ext("org").role(item.role)
        return f"You are now {role.label.lower() if role else item.role}."

    return _answer(reference, handover_id, AcceptForm(prefix="accept"), "accept_form", act)


@bp.post("/<reference>/handovers/<int:handover_id>/decline")
def decline(reference: str, handover_id: int):
    def act(item, form) -> str:
        service.decline(Session, _ext("org"), _ext("effects"), current_user, item,
                        form.reason.data or "")
        return "You declined the hand-over; the person who asked has been told."

    return _answer(reference, handover_id, DeclineForm(prefix="decline"), "decline_form", act)


@bp.post("/<reference>/handovers/<int:handover_id>/withdraw")
def withdraw(reference: str, handover_id: int):
    def act(item, _form) -> str:
        service.cancel(Session, _ext("org"), _ext("effects"), current_user, item)
        return "Hand-over request withdrawn."

    return _answer(reference, handover_id, WithdrawForm(prefix="withdraw"), "withdraw_form",
                   act)
