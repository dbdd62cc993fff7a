"""Staff accounts for the centre's administrators (/admin/users), staff logins held back by failed tries
(/admin/logins, for centre staff too), and every staff member's own password (/account/password)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core import operations as ops
from exam_server.core.auth import StaffPrincipal, role_required, sign_in
from exam_server.core.models import ROLES, User
from exam_server.core.security import STAFF_ACCOUNT, account_key, throttled_keys
from exam_server.extensions import db
from item_bank.db import utcnow

blueprint = Blueprint("accounts", __name__)

USERS_PAGE = "core/users.html"
USER_PAGE = "core/user.html"
STAFF_LOGIN_PREFIX = account_key(STAFF_ACCOUNT, "")


def _held_back(now: dt.datetime) -> dict[str, int]:
    """Staff usernames whose next login must wait, with the seconds left."""
    return {row.key.removeprefix(STAFF_LOGIN_PREFIX): max(1, int((row.blocked_until - now).total_seconds()) + 1)
            for row in throttled_keys(db.session, STAFF_LOGIN_PREFIX) if row.blocked_until is not None}


def _users_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    q = request.args.get("q", "").strip()
    query = select(User).order_by(User.username)
    if q:
        like = f"%{q[:80]}%"
        query = query.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    users = db.session.scalars(query.limit(500)).all()
    return render_template(USERS_PAGE, users=users, q=q, roles=ROLES, role_labels=ops.ROLE_LABELS,
                           held=_held_back(utcnow()), error=error, form=request.form), status


def _user_or_404(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


def _user_page(user: User, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(USER_PAGE, user=user, roles=ROLES, role_labels=ops.ROLE_LABELS,
                           held=_held_back(utcnow()).get(user.username), error=error), status


def _change(change: Callable[[], str], refused: Callable[[str, int], tuple[str, int]],
            then: str) -> WerkzeugResponse | tuple[str, int]:
    """Run `change` (an operation that commits); flash what it says and go to `then`, or show the page again with
    why it was refused."""
    try:
        done = change()
    except ops.AccountError as exc:
        return refused(exc.message, exc.status)
    flash(done)
    return redirect(then)


def _me() -> User:
    return db.session.get(User, current_user.user.id) or abort(403)


@blueprint.get("/admin/users")
@role_required("admin")
def users() -> tuple[str, int]:
    return _users_page()


@blueprint.post("/admin/users")
@role_required("admin")
def create_user() -> WerkzeugResponse | tuple[str, int]:
    def change() -> str:
        user = ops.create_user(db.session, username=request.form.get("username", ""),
                               display_name=request.form.get("display_name", ""),
                               roles=request.form.getlist("roles"), password=request.form.get("password", ""),
                               hash_profile=current_app.config["PASSWORD_HASH_PROFILE"], actor=current_user.actor)
        return f"已创建用户 {user.username}。"

    return _change(change, _users_page, url_for("accounts.users"))


@blueprint.get("/admin/users/<int:user_id>")
@role_required("admin")
def user_detail(user_id: int) -> tuple[str, int]:
    return _user_page(_user_or_404(user_id))


def _user_change(user_id: int, change: Callable[[User], str]) -> WerkzeugResponse | tuple[str, int]:
    user = _user_or_404(user_id)
    return _change(lambda: change(user), lambda message, status: _user_page(user, message, status),
                   url_for("accounts.user_detail", user_id=user.id))


@blueprint.post("/admin/users/<int:user_id>/roles")
@role_required("admin")
def set_roles(user_id: int) -> WerkzeugResponse | tuple[str, int]:
    def change(user: User) -> str:
        ops.set_roles(db.session, user, request.form.getlist("roles"), current_user.actor)
        return f"已更新 {user.username} 的角色；该用户需重新登录。"

    return _user_change(user_id, change)


@blueprint.post("/admin/users/<int:user_id>/password")
@role_required("admin")
def reset_password(user_id: int) -> WerkzeugResponse | tuple[str, int]:
    def change(user: User) -> str:
        if request.form.get("password", "") != request.form.get("confirm", ""):
            raise ops.AccountError("两次输入的新密码不一致。", code="password_mismatch")
        ops.reset_password(db.session, user, request.form.get("password", ""),
                           current_app.config["PASSWORD_HASH_PROFILE"], current_user.actor)
        return f"已重置 {user.username} 的密码；该用户需用新密码重新登录。"

    return _user_change(user_id, change)


@blueprint.post("/admin/users/<int:user_id>/disable")
@role_required("admin")
def disable(user_id: int) -> WerkzeugResponse | tuple[str, int]:
    def change(user: User) -> str:
        ops.set_active(db.session, user, False, current_user.actor, by=_me())
        return f"已停用 {user.username}，其登录已全部失效。"

    return _user_change(user_id, change)


@blueprint.post("/admin/users/<int:user_id>/enable")
@role_required("admin")
def enable(user_id: int) -> WerkzeugResponse | tuple[str, int]:
    def change(user: User) -> str:
        ops.set_active(db.session, user, True, current_user.actor, by=_me())
        return f"已启用 {user.username}。"

    return _user_change(user_id, change)


@blueprint.get("/admin/logins")
@role_required("centre_staff")
def login_delays() -> str:
    held = _held_back(utcnow())
    accounts = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_(list(held))))}
    rows = [(accounts[name], wait) for name, wait in held.items() if name in accounts]
    return render_template("core/login_delays.html", rows=rows)


@blueprint.post("/admin/users/<int:user_id>/unlock")
@role_required("centre_staff")
def unlock(user_id: int) -> WerkzeugResponse:
    user = _user_or_404(user_id)
    if ops.unlock_login(db.session, STAFF_ACCOUNT, user.username, current_user.actor, "user", user.id):
        flash(f"已解除 {user.username} 的登录限制，可以立即重新登录。")
    else:
        flash(f"{user.username} 当前没有登录限制。")
    if current_user.has_role("admin"):
        return redirect(url_for("accounts.user_detail", user_id=user.id))
    return redirect(url_for("accounts.login_delays"))


@blueprint.route("/account/password", methods=["GET", "POST"])
@role_required(*ROLES)
def change_password() -> WerkzeugResponse | tuple[str, int]:
    page = "core/change_password.html"
    if request.method == "GET":
        return render_template(page), 200
    user = _me()
    try:
        ops.change_own_password(db.session, user, request.form.get("current", ""), request.form.get("password", ""),
                                request.form.get("confirm", ""), current_app.config["PASSWORD_HASH_PROFILE"])
    except ops.AccountError as exc:
        return render_template(page, error=exc.message), exc.status
    # Every other session of the account has ended; this browser goes on in the new epoch.
    db.session.refresh(user)
    sign_in(StaffPrincipal(user))
    flash("密码已修改；其他设备上的登录已失效。")
    return redirect(url_for("core.index"))
