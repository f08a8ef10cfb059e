"""The contacts page: who is on the SharePoint list, when it was last read, sync now."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import func, or_, select

from app.contacts import service
from app.contacts.models import Contact
from app.db import Session
from app.web.m365.forms import SyncForm

bp = Blueprint("contacts", __name__, url_prefix="/contacts")
PAGE = 100


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


@bp.get("")
def list_contacts():
    text = (request.args.get("q") or "").strip()[:100]
    shown = _people_page(text)
    installation = current_app.extensions["installation"]
    return render_template(
        "contacts/list.html", people=shown[:PAGE], more=len(shown) > PAGE, q=text,
        total=service.count(Session), last=service.last_sync(Session), form=SyncForm(),
        configured=bool(installation.contacts_site_id and installation.contacts_list_id))


def _people_page(text: str) -> list[service.Person]:
    """Up to PAGE + 1 people by name, those with any contact matching `text`: a page of
    addresses first, then their contacts, so a person is one entry, never split."""
    query = (select(Contact.email).group_by(Contact.email)
             .order_by(func.min(func.lower(Contact.name)), Contact.email))
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(func.lower(Contact.name).like(like),
                                func.lower(Contact.email).like(like),
                                func.lower(Contact.service).like(like),
                                func.lower(Contact.role).like(like)))
    emails = Session.scalars(query.limit(PAGE + 1)).all()
    contacts = Session.scalars(select(Contact).where(Contact.email.in_(emails)))
    order = {email: n for n, email in enumerate(emails)}
    return sorted(service.people(contacts), key=lambda person: order[person.email])


@bp.post("/sync")
def sync_now():
    """Start a sync now: one at a time, and one by hand per few minutes (service)."""
    if not SyncForm().validate_on_submit():
        flash("The form had expired. Try again.", "error")
    else:
        try:
            service.request_sync(Session)
        except service.SyncRefused as refused:
            flash(refused.message, "error")
        else:
            current_app.extensions["jobs"].enqueue("app.jobs.sync_contacts")
            flash("Reading the contacts list from SharePoint. Refresh this page in a moment.",
                  "success")
    return redirect(url_for("contacts.list_contacts"))
