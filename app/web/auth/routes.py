"""Sign-in pages: Microsoft Entra (MSAL auth-code flow) or, with no tenant, dev sign-in."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.auth import service, sign_ins
from app.auth.models import User
from app.db import Session, read_only, writing
from app.extensions import csrf, login_manager
from app.web.auth.forms import (
    DevSignInForm,
    EntraSignInForm,
    NewTokenForm,
    RevokeTokenForm,
    SignOutForm,
)
from graph.entra import EntraSignIn, SignInError

bp = Blueprint("auth", __name__)

FLOW_COOKIE = "incident_desk_sign_in"
FLOW_MAX_AGE = 15 * 60
SIGN_IN_KEY = "sign_in"  # the session cookie's sign-in id (app/auth/sign_ins.py)
# Control characters (CR/LF above all) in a redirect target: refused, never a header.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@login_manager.user_loader
def _load_user(object_id: str) -> User | None:
    """The person whose sign-in this cookie carries, while that sign-in is open: signed
    out (here or everywhere) or older than the session lifetime, the cookie is refused."""
    return sign_ins.user_for(Session, session.get(SIGN_IN_KEY), object_id,
                             current_app.permanent_session_lifetime)


def _browser_identifier() -> str:
    """What Flask-Login binds a session to ("strong": another address or browser is
    signed out): the socket's address, which ProxyFix sets from X-Forwarded-For only for
    the TRUSTED_PROXIES hops. Flask-Login's own believes X-Forwarded-For from anyone, so a
    copied cookie passed with the owner's address written in that header."""
    base = f"{request.remote_addr}|{request.headers.get('User-Agent')}"
    return hashlib.sha512(base.encode()).hexdigest()


login_manager._session_identifier_generator = _browser_identifier  # no public setter


@bp.before_app_request
def _check_sign_in():
    """The sign-in is checked before any view runs, so a refused one is anonymous
    throughout and its last-seen write never lands inside a view's transaction. It reads
    in a read-only transaction of its own: the view's then begins as its method says."""
    if "_user_id" in session:
        with read_only():
            _ = current_user.is_authenticated
        Session.commit()


@bp.before_app_request
def _refuse_accounts_no_longer_granted():
    """A session of an account that no longer counts (dev sign-in once a tenant is set,
    or with DEV_SIGN_IN off) is signed out before any view runs, and its server-side
    sign-in ends, so the cookie cannot count again if the account does."""
    if current_user.is_authenticated and service.account_refusal(current_user, _settings()):
        with writing(Session):  # GET requests run in read-only transactions
            sign_ins.end(Session, session.pop(SIGN_IN_KEY, None))  # no longer open anywhere
        logout_user()


def _begin_sign_in(user: User) -> None:
    """Sign `user` in with a new server-side sign-in; the one this browser had ends."""
    sign_ins.end(Session, session.pop(SIGN_IN_KEY, None))
    login_user(user)
    session[SIGN_IN_KEY] = sign_ins.begin(Session, user)


def _end_sign_in() -> None:
    sign_ins.end(Session, session.pop(SIGN_IN_KEY, None))
    logout_user()


def _settings():
    return current_app.extensions["settings"]


def _entra() -> EntraSignIn:
    s = _settings()
    return EntraSignIn(s.entra_tenant_id, s.entra_client_id, s.entra_client_secret,
                       s.entra_authority_host, verify=s.entra_verify)


def _flow_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="entra-sign-in-flow")


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so sign-in cannot be used to bounce people elsewhere, and
    none with control characters (a CR/LF would split the Location header)."""
    if (target and target.startswith("/") and not target.startswith("//")
            and not CONTROL_CHARACTERS.search(target)):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("incidents.list_incidents")


@bp.get("/sign-in")
def sign_in():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    return render_template(
        "auth/sign_in.html",
        entra_form=EntraSignInForm(),
        dev_form=DevSignInForm() if _settings().dev_sign_in_allowed else None,
        next=request.args.get("next", ""),
    )


@bp.post("/sign-in/microsoft")
def start_entra():
    if not _settings().entra_configured:
        flash("Microsoft sign-in is not set up on this installation.", "error")
        return redirect(url_for("auth.sign_in"))
    if not EntraSignInForm().validate_on_submit():
        abort(400)
    redirect_uri = url_for("auth.entra_callback", _external=True)
    try:
        flow = _entra().start(redirect_uri)
    except SignInError as exc:
        current_app.logger.warning("Entra sign-in could not start: %s", exc.detail)
        return render_template("auth/sign_in_failed.html", message=exc.message), 502
    flow["next"] = _safe_next(request.args.get("next") or request.form.get("next"))
    response = redirect(flow["auth_uri"])
    stored = {k: v for k, v in flow.items() if k != "auth_uri"}
    # Entra posts the answer back cross-site (form_post): this cookie must be SameSite=None.
    response.set_cookie(
        FLOW_COOKIE, _flow_serializer().dumps(stored), max_age=FLOW_MAX_AGE,
        httponly=True, secure=True, samesite="None", path=url_for("auth.entra_callback"),
    )
    return response


@bp.post("/auth/callback")
@csrf.exempt  # protected by the flow's state and nonce instead
def entra_callback():
    if not _settings().entra_configured:
        abort(404)
    try:
        flow = _flow_serializer().loads(request.cookies.get(FLOW_COOKIE, ""),
                                        max_age=FLOW_MAX_AGE)
    except BadSignature:
        return _failed("Your sign-in took too long or was started in another browser. "
                       "Sign in again.", "missing or expired flow cookie")
    next_url = _safe_next(flow.pop("next", None))
    try:
        who = _entra().finish(flow, request.form.to_dict())
    except SignInError as exc:
        return _failed(exc.message, exc.detail)
    s = _settings()
    if who.tenant_id.lower() != s.entra_tenant_id.lower():
        return _failed(OTHER_TENANT, f"id token of tenant {who.tenant_id!r}, not ours")
    try:
        user = service.upsert_user(
            Session, object_id=who.object_id, tenant_id=s.entra_tenant_id, name=who.name,
            email=who.email,
            sign_in_name=service.user_principal_name(who.token_cache, who.object_id),
            admin=service.ADMIN_APP_ROLE in who.app_roles,
            security=service.SECURITY_APP_ROLE in who.app_roles)
    except service.AccountOfAnotherTenant:
        return _failed(OTHER_TENANT, f"object id {who.object_id!r} is another tenant's")
    service.save_token_cache(Session, user, who.token_cache, s.secret_key)
    _begin_sign_in(user)
    response = redirect(next_url)
    response.delete_cookie(FLOW_COOKIE, path=url_for("auth.entra_callback"))
    return response


OTHER_TENANT = ("That Microsoft account belongs to another organisation: sign in with "
                "your account in this organisation's Microsoft Entra.")


def _failed(message: str, detail: str):
    current_app.logger.warning("Entra sign-in failed: %s", detail)
    response = current_app.make_response(
        (render_template("auth/sign_in_failed.html", message=message), 400)
    )
    response.delete_cookie(FLOW_COOKIE, path=url_for("auth.entra_callback"))
    return response


@bp.post("/sign-in/dev")
def dev_sign_in():
    if not _settings().dev_sign_in_allowed:
        abort(404)  # a real tenant is configured: there is no dev sign-in
    form = DevSignInForm()
    if not form.validate_on_submit():
        return render_template("auth/sign_in.html", entra_form=EntraSignInForm(),
                               dev_form=form, next=request.form.get("next", "")), 400
    email = form.email.data.strip().lower()
    sandboxed = _settings().graph_sandboxed
    signed_in = _sandbox_sign_in(email, form.name.data) if sandboxed else None
    if sandboxed and signed_in is None:
        return render_template("auth/sign_in_failed.html", message=(
            "The built-in Microsoft 365 sandbox could not sign you in. Try again.")), 502
    if signed_in is not None:  # someone who used dev sign-in before the sandbox had Entra
        service.adopt_object_id(Session, service.dev_object_id(email), signed_in.object_id)
    try:  # the ticks are this sign-in's roles; ADMIN_EMAILS is read on each request
        user = service.upsert_user(
            Session, object_id=signed_in.object_id if signed_in else
            service.dev_object_id(email), tenant_id=signed_in.tenant_id if signed_in else None,
            name=form.name.data, email=email, admin=bool(form.admin.data),
            security=bool(form.security.data))
    except service.AccountOfAnotherTenant:
        return render_template("auth/sign_in_failed.html", message=OTHER_TENANT), 400
    standalone = current_app.extensions["graph_setup"].standalone  # GRAPH_BASE_URL's
    if signed_in is not None or standalone:
        from app.m365.sandbox_host import enrol

        if signed_in is not None:
            service.save_token_cache(Session, user, signed_in.token_cache,
                                     _settings().secret_key)
        enrol(current_app, email)
    _begin_sign_in(user)
    return redirect(_safe_next(request.form.get("next")))


def _sandbox_sign_in(email: str, name: str):
    """With no tenant, dev sign-in also signs the person in to the built-in sandbox tenant
    through MSAL, so their stored token cache and object id are what a real sign-in would
    give and jobs act for them as they would in a tenant."""
    from app.m365.sandbox_host import sign_in

    try:
        return sign_in(current_app, email, name)
    except SignInError as exc:
        current_app.logger.warning("sandbox sign-in failed: %s", exc.detail)
        return None


@bp.post("/sign-out")
def sign_out():
    """Ends this sign-in; with `everywhere`, every sign-in of this person (another device,
    or a cookie someone copied) ends too."""
    if SignOutForm().validate_on_submit():
        everywhere = bool(request.form.get("everywhere")) and current_user.is_authenticated
        if everywhere:
            sign_ins.end_all(Session, current_user)
        _end_sign_in()
        flash("You have signed out everywhere: every browser and device you were signed "
              "in on must sign in again." if everywhere else "You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def api_tokens():
    form = NewTokenForm()
    new_secret = None
    if form.validate_on_submit():
        _row, new_secret = service.create_api_token(Session, current_user, form.name.data,
                                                    days=int(form.days.data))
        form = NewTokenForm(formdata=None)
    status = 400 if form.errors else 200
    return render_template(
        "auth/tokens.html", form=form, tokens=service.tokens_of(Session, current_user),
        new_secret=new_secret, revoke_form=RevokeTokenForm(),
        expired=service.token_expired, sign_in_days=service.sign_in_days(_settings()),
    ), status


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    if not RevokeTokenForm().validate_on_submit():
        abort(400)
    if not service.revoke_api_token(Session, current_user, token_id):
        abort(404)
    flash("Token revoked. Anything using it can no longer reach the API.", "success")
    return redirect(url_for("auth.api_tokens"))
