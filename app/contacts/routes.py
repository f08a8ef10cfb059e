"""The contacts page: who is on the SharePoint list, when it was last read, sync now."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import func, or_, select

from app.contacts import service
from app.contacts.models import Contact
from app.db import Session
from app.m365.forms import SyncForm

bp = Blueprint("contacts", __name__, url_prefix="/contacts")
PAGE = 100


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


@bp.get("")
def list_contacts():
    query = select(Contact).order_by(func.lower(Contact.name))
    text = (request.args.get("q") or "").strip()[:100]
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(func.lower(Contact.name).like(like),
                                func.lower(Contact.email).like(like),
                                func.lower(Contact.service).like(like),
                                func.lower(Contact.role).like(like)))
    contacts = Session.scalars(query.limit(PAGE + 1)).all()
    targets = current_app.extensions["targets"]
    return render_template(
        "contacts/list.html", contacts=contacts[:PAGE], more=len(contacts) > PAGE, q=text,
        total=service.count(Session), last=service.last_sync(Session), form=SyncForm(),
        configured=bool(targets.contacts_site_id and targets.contacts_list_id))


@bp.post("/sync")
def sync_now():
    if SyncForm().validate_on_submit():
        current_app.extensions["jobs"].enqueue("app.jobs.sync_contacts")
        flash("Reading the contacts list from SharePoint. Refresh this page in a moment.",
              "success")
    else:
        flash("The form had expired. Try again.", "error")
    return redirect(url_for("contacts.list_contacts"))
