"""Service catalogue, suppliers and escalation chain: anyone signed in reads them, during
an incident; administrators keep them."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.catalogue import service as catalogue
from app.catalogue.models import EscalationStep, Supplier, downstream_of, upstream_of
from app.db import Session
from app.incidents.models import Service
from app.incidents.rules import RuleError
from app.web.catalogue.forms import MoveForm, RemoveForm, ServiceForm, StepForm, SupplierForm

bp = Blueprint("catalogue", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


def _admin_only() -> None:
    if not current_user.is_admin:
        abort(403)


# ---- services ---------------------------------------------------------------------------


@bp.get("/services")
def services():
    return render_template("catalogue/services.html", services=catalogue.services(Session),
                           upstream_of=upstream_of, downstream_of=downstream_of)


@bp.get("/services/<int:service_id>")
def show_service(service_id: int):
    item = Session.get(Service, service_id) or abort(404)
    return render_template("catalogue/service.html", service=item,
                           upstream=upstream_of(item), downstream=downstream_of(item),
                           suppliers=list(catalogue.suppliers_of(Session, item)),
                           contacts=catalogue.contacts_for(Session, item.name))


@bp.route("/services/new", methods=["GET", "POST"])
@bp.route("/services/<int:service_id>/edit", methods=["GET", "POST"])
def edit_service(service_id: int | None = None):
    _admin_only()
    item = None
    if service_id is not None:
        item = Session.get(Service, service_id) or abort(404)
    data = None
    if request.method == "GET" and item is not None:
        data = {"name": item.name, "description": item.description, "owner": item.owner,
                "runbook_url": item.runbook_url or "", "dr_url": item.dr_url or "",
                "upstream": [s.id for s in upstream_of(item)],
                "suppliers": [s.id for s in catalogue.suppliers_of(Session, item)],
                "public": item.public}
    form = ServiceForm(data=data)
    form.set_choices(catalogue.services(Session), catalogue.suppliers(Session), item)
    if form.validate_on_submit():
        try:
            saved = catalogue.save_service(Session, item, catalogue.ServiceFields(
                name=form.name.data, description=form.description.data or "",
                owner=form.owner.data or "", runbook_url=form.runbook_url.data,
                dr_url=form.dr_url.data, upstream_ids=tuple(form.upstream.data or ()),
                supplier_ids=tuple(form.suppliers.data or ()),
                public=bool(form.public.data)))
        except RuleError as error:
            error.attach_to(form)
        else:
            flash(f"{saved.name} saved.", "success")
            return redirect(url_for("catalogue.show_service", service_id=saved.id))
    status = 400 if request.method == "POST" else 200
    return render_template("catalogue/service_form.html", form=form, service=item), status


# ---- suppliers --------------------------------------------------------------------------


@bp.get("/suppliers")
def suppliers():
    return render_template("catalogue/suppliers.html", suppliers=catalogue.suppliers(Session))


@bp.route("/suppliers/new", methods=["GET", "POST"])
@bp.route("/suppliers/<int:supplier_id>/edit", methods=["GET", "POST"])
def edit_supplier(supplier_id: int | None = None):
    _admin_only()
    item = None
    if supplier_id is not None:
        item = Session.get(Supplier, supplier_id) or abort(404)
    form = SupplierForm(obj=item if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            saved = catalogue.save_supplier(
                Session, item, name=form.name.data, support_route=form.support_route.data or "",
                hours=form.hours.data or "", escalation=form.escalation.data or "",
                url=form.url.data)
        except RuleError as error:
            error.attach_to(form)
        else:
            flash(f"{saved.name} saved.", "success")
            return redirect(url_for("catalogue.suppliers", _anchor=f"supplier-{saved.id}"))
    status = 400 if request.method == "POST" else 200
    return render_template("catalogue/supplier_form.html", form=form, supplier=item), status


# ---- escalation chain -------------------------------------------------------------------


@bp.get("/escalation")
def escalation():
    return render_template("catalogue/escalation.html", steps=catalogue.chain(Session),
                           move_form=MoveForm(), remove_form=RemoveForm())


@bp.route("/escalation/new", methods=["GET", "POST"])
@bp.route("/escalation/<int:step_id>/edit", methods=["GET", "POST"])
def edit_step(step_id: int | None = None):
    _admin_only()
    item = None
    if step_id is not None:
        item = Session.get(EscalationStep, step_id) or abort(404)
    form = StepForm(obj=item if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            catalogue.save_step(Session, item, name=form.name.data, role=form.role.data or "",
                                phone=form.phone.data or "", email=form.email.data or "",
                                when=form.when.data or "")
        except RuleError as error:
            error.attach_to(form)
        else:
            flash("Escalation chain saved.", "success")
            return redirect(url_for("catalogue.escalation"))
    status = 400 if request.method == "POST" else 200
    return render_template("catalogue/step_form.html", form=form, step=item), status


@bp.post("/escalation/<int:step_id>/move/<direction>")
def move_step(step_id: int, direction: str):
    _admin_only()
    item = Session.get(EscalationStep, step_id)
    if item is None or direction not in ("up", "down"):
        abort(404)
    if not MoveForm().validate_on_submit():
        abort(400)
    catalogue.move_step(Session, item, direction)
    return redirect(url_for("catalogue.escalation", _anchor=f"step-{item.id}"))


@bp.post("/escalation/<int:step_id>/remove")
def remove_step(step_id: int):
    _admin_only()
    item = Session.get(EscalationStep, step_id) or abort(404)
    if not RemoveForm().validate_on_submit():
        abort(400)
    catalogue.remove_step(Session, item)
    flash(f"{item.name} removed from the escalation chain.", "success")
    return redirect(url_for("catalogue.escalation"))
