"""Friendly error pages (and JSON for the API); never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException

from app import db

MESSAGES = {
    400: ("There is a problem with that request", "Check what you entered and try again."),
    401: ("Sign in to continue", "You need to sign in to use this."),
    403: ("You cannot do that", "Your account does not have access to this."),
    404: ("Page not found", "If you typed the web address, check it is correct. "
          "If you followed a link to an incident, it may be restricted."),
    405: ("That action is not allowed here", "Go back and use the buttons on the page."),
    413: ("That is too large", "Send less at once: a form, with any file in it, can be "
          "up to 2 MB."),
    500: ("Sorry, something went wrong", "Nothing you entered was saved. Try again in a "
          "minute; if it keeps happening, tell the team that runs Incident Desk."),
}


class Refused(BadRequest):
    """A 400 whose page (or JSON) says what was wrong: raise it from a view when a query
    parameter cannot be answered, instead of letting the work fail later with a 500."""

    def __init__(self, title: str, body: str):
        super().__init__(description=body)
        self.title = title


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _page(status: int, title: str | None = None, body: str | None = None, **extra):
    default_title, default_body = MESSAGES.get(status, MESSAGES[400])
    if _wants_json():
        return jsonify({"error": title or default_title, "detail": body or default_body}), status
    return (
        render_template("errors/error.html", status=status, title=title or default_title,
                        body=body or default_body, **extra),
        status,
    )


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc):
        # Show what they typed so nothing is lost when a session has expired.
        kept = [
            (key, value)
            for key, value in request.form.items(multi=True)
            if key != "csrf_token" and value.strip()
        ]
        return _page(
            400,
            "Your form could not be sent",
            "Your session expired or the form is out of date, so nothing was saved. "
            "Sign in again if asked, then go back and submit the form again. "
            "What you entered is below so you can copy it.",
            kept=kept,
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if isinstance(exc, Refused):
            return _page(exc.code, exc.title, exc.description)
        return _page(exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.Session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _page(500)
