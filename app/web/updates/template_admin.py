"""/admin/update-templates: the saved starting wordings of status updates (administrators
only, 403 for others as every admin page). Registered on the updates blueprint, so the
sign-in it asks for applies here too (routes.py)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.db import Session
from app.incidents.rules import RuleError
from app.updates import templates as saved
from app.updates.models import UpdateTemplate
from app.updates.phrasing import PHASE_LABELS
from app.web.updates.template_forms import RestoreForm, RetireForm, TemplateForm


def register(bp) -> None:
    bp.add_url_rule("/admin/update-templates", "list_templates", list_templates)
    bp.add_url_rule("/admin/update-templates/new", "edit_template", edit_template,
                    methods=["GET", "POST"])
    bp.add_url_rule("/admin/update-templates/<int:template_id>/edit", "edit_template",
                    edit_template, methods=["GET", "POST"])
    bp.add_url_rule("/admin/update-templates/<int:template_id>/retire", "retire_template",
                    retire_template, methods=["POST"])
    bp.add_url_rule("/admin/update-templates/<int:template_id>/restore", "restore_template",
                    restore_template, methods=["POST"])


def _admin_only() -> None:
    if not current_user.is_admin:
        abort(403)


def list_templates():
    _admin_only()
    return render_template("updates/templates.html", templates=saved.all_templates(Session),
                           phase_labels=PHASE_LABELS, placeholders=saved.PLACEHOLDERS,
                           retire_form=RetireForm(), restore_form=RestoreForm())


def edit_template(template_id: int | None = None):
    _admin_only()
    item = None
    if template_id is not None:
        item = Session.get(UpdateTemplate, template_id) or abort(404)
    form = TemplateForm(obj=item if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            item = saved.save(Session, current_user, item, name=form.name.data,
                              phase=form.phase.data, public_text=form.public_text.data,
                              internal_text=form.internal_text.data or "",
                              position=form.position.data)
        except RuleError as error:
            Session.rollback()
            error.attach_to(form)
        else:
            flash(f"{item.name} saved.", "success")
            return redirect(url_for("updates.list_templates", _anchor=f"template-{item.id}"))
    status = 400 if request.method == "POST" else 200
    return render_template("updates/template_form.html", form=form, template=item,
                           placeholders=saved.PLACEHOLDERS), status


def retire_template(template_id: int):
    return _set_active(template_id, False, RetireForm, "is no longer offered")


def restore_template(template_id: int):
    return _set_active(template_id, True, RestoreForm, "is offered again")


def _set_active(template_id: int, active: bool, form_class, said: str):
    _admin_only()
    item = Session.get(UpdateTemplate, template_id) or abort(404)
    if not form_class().validate_on_submit():
        abort(400)
    saved.set_active(Session, current_user, item, active)
    flash(f"{item.name} {said}.", "success")
    return redirect(url_for("updates.list_templates", _anchor=f"template-{item.id}"))
