"""Logging in and out: candidates with ticket number and password, staff with username and password."""

from __future__ import annotations

from collections.abc import Callable

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import CandidatePrincipal, StaffPrincipal, candidate_accounts
from exam_server.core.models import User
from exam_server.core.security import (
    TooManyAttempts,
    check_login_allowed,
    clear_login_failures,
    record_login_failure,
    verify_password,
)
from exam_server.extensions import db

blueprint = Blueprint("core", __name__)
CANDIDATE_LOGIN = "core/candidate_login.html"
STAFF_LOGIN = "core/staff_login.html"

# Where each kind of staff member lands after logging in, first match wins.
STAFF_HOME = (
    ("proctor", "proctoring.console"),
    ("centre_staff", "staff.sessions"),
    ("grader", "grading.queue"),
    ("chief_grader", "grading.monitor"),
    ("author", "bank.items"),
    ("reviewer", "bank.review_queue"),
    ("bank_manager", "bank.items"),
)


def _throttle_key(kind: str, name: str) -> str:
    return f"{kind}:{name}:{request.remote_addr or '-'}"


def _staff_home() -> str:
    for role, endpoint in STAFF_HOME:
        if current_user.has_role(role) and endpoint in current_app.view_functions:
            return url_for(endpoint)
    return url_for("staff.sessions")


@blueprint.get("/")
def index() -> WerkzeugResponse:
    if current_user.is_authenticated:
        return redirect(url_for("delivery.exam_page") if current_user.is_candidate else _staff_home())
    return redirect(url_for("core.candidate_login"))


Authenticate = Callable[[str, str], StaffPrincipal | CandidatePrincipal | None]


def _login(page: str, field: str, throttle: str, wrong: str, authenticate: Authenticate) -> tuple[str, int] | None:
    """Log in whom `authenticate(name, password)` finds for the form's `field` and password, throttled per name
    and address (`throttle` is the kind of name); else the login page again, refused."""
    name = request.form.get(field, "").strip()
    password = request.form.get("password", "")
    key = _throttle_key(throttle, name)
    cfg = current_app.config
    try:
        check_login_allowed(db.session, key, cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_WINDOW_S"])
    except TooManyAttempts as exc:
        return render_template(page, error=str(exc), **{field: name}), 429
    principal = authenticate(name, password)
    if principal is None:
        record_login_failure(db.session, key, cfg["LOGIN_WINDOW_S"])
        return render_template(page, error=wrong, **{field: name}), 401
    clear_login_failures(db.session, key)
    login_user(principal)
    return None


def _staff_principal(username: str, password: str) -> StaffPrincipal | None:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        return None
    return StaffPrincipal(user)


@blueprint.route("/login", methods=["GET", "POST"])
def candidate_login() -> str | WerkzeugResponse | tuple[str, int]:
    if request.method == "GET":
        return render_template(CANDIDATE_LOGIN)
    refused = _login(CANDIDATE_LOGIN, "ticket", "ticket", "准考证号或密码不正确。",
                     lambda number, password: candidate_accounts().authenticate(db.session, number, password))
    return refused or redirect(url_for("delivery.exam_page"))


@blueprint.route("/staff/login", methods=["GET", "POST"])
def staff_login() -> str | WerkzeugResponse | tuple[str, int]:
    if request.method == "GET":
        return render_template(STAFF_LOGIN)
    refused = _login(STAFF_LOGIN, "username", "user", "用户名或密码不正确。", _staff_principal)
    if refused:
        return refused
    next_url = request.args.get("next", "")
    # Only local paths: never bounce a login to another site.
    if next_url.startswith("/") and not next_url.startswith("//"):
        return redirect(next_url)
    return redirect(_staff_home())


@blueprint.post("/logout")
def logout() -> WerkzeugResponse:
    was_candidate = current_user.is_authenticated and current_user.is_candidate
    logout_user()
    flash("已退出登录。")
    return redirect(url_for("core.candidate_login" if was_candidate else "core.staff_login"))


@blueprint.get("/assets/<path:filename>")
def client_asset(filename: str) -> WerkzeugResponse:
    """Browser code from client/ (our own scripts and the npm packages it depends on)."""
    client_dir = current_app.config["CLIENT_DIR"]
    if filename.startswith("vendor/socket.io/"):
        return send_from_directory(
            f"{client_dir}/node_modules/socket.io-client/dist", filename.removeprefix("vendor/socket.io/")
        )
    return send_from_directory(f"{client_dir}/src", filename)
