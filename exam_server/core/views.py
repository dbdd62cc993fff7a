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
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import (
    CandidatePrincipal,
    StaffPrincipal,
    candidate_accounts,
    sign_in,
    sign_out,
)
from exam_server.core.models import User
from exam_server.core.operations import end_all_sessions
from exam_server.core.security import (
    STAFF_ACCOUNT,
    TICKET_ACCOUNT,
    Throttle,
    account_key,
    address_key,
    clear_login_failures,
    login_wait_s,
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


def _throttles(kind: str, name: str) -> dict[str, Throttle]:
    """The keys a login try counts against: the account (from any address, so spreading guesses over many
    addresses does not help) and the client address (from behind the proxies PROXY_FIX_X_FOR trusts)."""
    cfg = current_app.config
    quiet = int(cfg["LOGIN_QUIET_S"])
    return {
        account_key(kind, name): Throttle(int(cfg["LOGIN_ACCOUNT_FREE_FAILURES"]),
                                          int(cfg["LOGIN_ACCOUNT_MAX_DELAY_S"]), quiet),
        address_key(request.remote_addr or "-"): Throttle(int(cfg["LOGIN_ADDRESS_FREE_FAILURES"]),
                                                          int(cfg["LOGIN_ADDRESS_MAX_DELAY_S"]), quiet),
    }


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


def _login(page: str, field: str, kind: str, wrong: str, authenticate: Authenticate) -> tuple[str, int] | None:
    """Log in whom `authenticate(name, password)` finds for the form's `field` and password; else the login page
    again, refused. After a few failures the account and the address must wait before their next try (growing
    delays, never a lockout); a try made while waiting is refused unread and not counted."""
    name = request.form.get(field, "").strip()
    password = request.form.get("password", "")
    throttles = _throttles(kind, name)
    wait = login_wait_s(db.session, list(throttles))
    if wait:
        return render_template(page, error=f"登录尝试过于频繁，请 {wait} 秒后再试。", **{field: name}), 429
    principal = authenticate(name, password)
    if principal is None:
        wait = record_login_failure(db.session, throttles)
        error = f"{wrong}请 {wait} 秒后再试。" if wait else wrong
        return render_template(page, error=error, **{field: name}), 401
    clear_login_failures(db.session, account_key(kind, name))
    sign_in(principal)
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
    refused = _login(CANDIDATE_LOGIN, "ticket", TICKET_ACCOUNT, "准考证号或密码不正确。",
                     lambda number, password: candidate_accounts().authenticate(db.session, number, password))
    return refused or redirect(url_for("delivery.exam_page"))


@blueprint.route("/staff/login", methods=["GET", "POST"])
def staff_login() -> str | WerkzeugResponse | tuple[str, int]:
    if request.method == "GET":
        return render_template(STAFF_LOGIN)
    refused = _login(STAFF_LOGIN, "username", STAFF_ACCOUNT, "用户名或密码不正确。", _staff_principal)
    if refused:
        return refused
    next_url = request.args.get("next", "")
    # Only local paths: never bounce a login to another site.
    if next_url.startswith("/") and not next_url.startswith("//"):
        return redirect(next_url)
    return redirect(_staff_home())


@blueprint.post("/logout")
def logout() -> WerkzeugResponse:
    """Log out, ending every copy of the session (a cookie copied before logout must not outlive it)."""
    was_candidate = current_user.is_authenticated and current_user.is_candidate
    if current_user.is_authenticated:
        if was_candidate:
            candidate_accounts().revoke(db.session, current_user.ticket_id)
        else:
            end_all_sessions(db.session, current_user.user)
    sign_out()
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
