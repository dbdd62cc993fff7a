"""Staff accounts administered by the centre's administrators, on screen (/admin/users) and at `examctl users`:
create, disable and enable, reset a password, set roles; every change audited, and every change that should
throw the account out ends its sessions. Nobody else reaches these pages."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import ROLES, User
from exam_server.core.security import hash_password
from item_bank.audit import AuditEvent

pytest_plugins = ["proctor_support"]

STRONG = "tiger-lamp-river-42"
ADMIN_PASSWORD = "harbour-violet-engine-7"


@pytest.fixture
def admin(app: Flask, seated: Any, session: Session) -> tuple[FlaskClient, str]:
    """An administrator logged in; returns the browser and a CSRF token."""
    session.add(User(username="root", display_name="系统管理员", roles=["admin"],
                     password_hash=hash_password(ADMIN_PASSWORD, "low")))
    session.commit()
    client = app.test_client()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    assert client.post("/staff/login", data={"username": "root", "password": ADMIN_PASSWORD,
                                              "csrf_token": token}).status_code == 302
    return client, token


def user(session: Session, username: str) -> User:
    session.rollback()  # a fresh read
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def audits(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def logged_in(app: Flask, seated: Any, username: str) -> FlaskClient:
    client = app.test_client()
    seated.staff_login(client, username)
    assert client.get("/").status_code == 302 and client.get("/account/password").status_code == 200
    return client


def still_in(client: FlaskClient) -> bool:
    return client.get("/account/password").status_code == 200


def test_the_list_searches_and_shows_the_navigation_entry(admin: tuple[FlaskClient, str]) -> None:
    client, _ = admin
    page = client.get("/admin/users").get_data(as_text=True)
    assert "账号管理" in page and "proctor2" in page and "grader1" in page
    found = client.get("/admin/users?q=proctor").get_data(as_text=True)
    assert "proctor2" in found and "grader1" not in found


def test_an_admin_creates_an_account_with_the_policy_in_chinese(
    admin: tuple[FlaskClient, str], session: Session, app: Flask
) -> None:
    client, token = admin
    weak = client.post("/admin/users", data={"username": "wang", "display_name": "王老师", "password": "password123",
                                             "roles": ["grader"], "csrf_token": token})
    assert weak.status_code == 400 and "密码" in weak.get_data(as_text=True)
    assert session.scalar(select(User).where(User.username == "wang")) is None
    made = client.post("/admin/users", data={"username": "wang", "display_name": "王老师", "password": STRONG,
                                             "roles": ["grader", "author"], "csrf_token": token})
    assert made.status_code == 302
    assert sorted(user(session, "wang").roles) == ["author", "grader"]
    assert [(a.actor, a.after["username"]) for a in audits(session, "user.created")] == [("user:root", "wang")]
    twice = client.post("/admin/users", data={"username": "wang", "password": STRONG, "roles": ["grader"],
                                              "csrf_token": token})
    assert twice.status_code == 400 and "已存在" in twice.get_data(as_text=True)


def test_disabling_ends_the_sessions_and_enabling_lets_the_user_back(
    admin: tuple[FlaskClient, str], session: Session, app: Flask, seated: Any
) -> None:
    client, token = admin
    grader = logged_in(app, seated, "grader1")
    target = user(session, "grader1")
    assert client.post(f"/admin/users/{target.id}/disable", data={"csrf_token": token}).status_code == 302
    assert not still_in(grader)
    assert user(session, "grader1").active is False
    again = app.test_client()
    login = csrf_token_from(again.get("/staff/login").get_data(as_text=True))
    assert again.post("/staff/login", data={"username": "grader1", "password": "pw-staff",
                                            "csrf_token": login}).status_code == 401
    assert client.post(f"/admin/users/{target.id}/enable", data={"csrf_token": token}).status_code == 302
    logged_in(app, seated, "grader1")
    assert [a.actor for a in audits(session, "user.disabled")] == ["user:root"]
    assert [a.actor for a in audits(session, "user.enabled")] == ["user:root"]


def test_a_reset_password_meets_the_policy_and_ends_the_sessions(
    admin: tuple[FlaskClient, str], session: Session, app: Flask, seated: Any
) -> None:
    client, token = admin
    author = logged_in(app, seated, "author")
    target = user(session, "author")
    weak = client.post(f"/admin/users/{target.id}/password", data={"password": "1111111111", "confirm": "1111111111",
                                                                  "csrf_token": token})
    assert weak.status_code == 400 and "密码" in weak.get_data(as_text=True)
    assert still_in(author)
    done = client.post(f"/admin/users/{target.id}/password", data={"password": STRONG, "confirm": STRONG,
                                                                  "csrf_token": token})
    assert done.status_code == 302
    assert not still_in(author)
    event = audits(session, "user.password_reset")
    assert [(a.actor, a.entity_id) for a in event] == [("user:root", str(target.id))]
    assert STRONG not in str(event[0].before) + str(event[0].after)  # no password in the audit trail


def test_changing_roles_is_audited_and_ends_the_sessions(
    admin: tuple[FlaskClient, str], session: Session, app: Flask, seated: Any
) -> None:
    client, token = admin
    reviewer = logged_in(app, seated, "reviewer")
    target = user(session, "reviewer")
    done = client.post(f"/admin/users/{target.id}/roles", data={"roles": ["reviewer", "author"], "csrf_token": token})
    assert done.status_code == 302
    assert sorted(user(session, "reviewer").roles) == ["author", "reviewer"]
    assert not still_in(reviewer)
    [event] = audits(session, "user.roles_changed")
    assert event.before["roles"] == ["reviewer"] and sorted(event.after["roles"]) == ["author", "reviewer"]
    none = client.post(f"/admin/users/{target.id}/roles", data={"csrf_token": token})
    assert none.status_code == 400 and "角色" in none.get_data(as_text=True)


def test_an_admin_cannot_disable_themselves_or_remove_the_last_admin(
    admin: tuple[FlaskClient, str], session: Session
) -> None:
    client, token = admin
    root = user(session, "root")
    myself = client.post(f"/admin/users/{root.id}/disable", data={"csrf_token": token})
    assert myself.status_code == 409 and "不能停用自己" in myself.get_data(as_text=True)
    last = client.post(f"/admin/users/{root.id}/roles", data={"roles": ["centre_staff"], "csrf_token": token})
    assert last.status_code == 409 and "最后一个系统管理员" in last.get_data(as_text=True)
    assert user(session, "root").active and user(session, "root").roles == ["admin"]
    assert not audits(session, "user.disabled") and not audits(session, "user.roles_changed")


NON_ADMINS = ["staff", "proctor", "manager", "author", "reviewer", "grader1", "chief"]


@pytest.mark.parametrize("username", NON_ADMINS)
def test_every_other_role_is_refused(app: Flask, seated: Any, session: Session, username: str) -> None:
    client = app.test_client()
    token = seated.staff_login(client, username)
    target = user(session, "grader2")
    assert client.get("/admin/users").status_code == 403
    assert client.get(f"/admin/users/{target.id}").status_code == 403
    assert client.post("/admin/users", data={"username": "x", "password": STRONG, "roles": ["admin"],
                                             "csrf_token": token}).status_code == 403
    for action, data in (("disable", {}), ("enable", {}), ("password", {"password": STRONG, "confirm": STRONG}),
                         ("roles", {"roles": ["admin"]})):
        assert client.post(f"/admin/users/{target.id}/{action}", data={**data, "csrf_token": token}).status_code == 403
    assert user(session, "grader2").roles == ["grader"] and user(session, "grader2").active
    assert session.scalar(select(User).where(User.username == "x")) is None


def test_a_candidate_and_nobody_are_refused(app: Flask, seated: Any) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/admin/users").status_code == 302
    assert anonymous.get("/account/password").status_code == 302
    candidate = app.test_client()
    seated.candidate_login(candidate, 0)
    assert candidate.get("/admin/users").status_code == 403
    assert candidate.get("/admin/logins").status_code == 403


def test_the_users_command(app: Flask, seated: Any, session: Session) -> None:
    runner = app.test_cli_runner()
    grader = logged_in(app, seated, "grader1")
    listed = runner.invoke(args=["users", "list", "--search", "grader"])
    assert listed.exit_code == 0 and "grader1" in listed.output and "proctor" not in listed.output
    assert runner.invoke(args=["users", "disable", "grader1"]).exit_code == 0
    assert not still_in(grader) and user(session, "grader1").active is False
    assert runner.invoke(args=["users", "enable", "grader1"]).exit_code == 0
    weak = runner.invoke(args=["users", "reset-password", "grader1", "--password", "1"])
    assert weak.exit_code != 0 and "密码" in weak.output
    assert runner.invoke(args=["users", "reset-password", "grader1", "--password", STRONG]).exit_code == 0
    roles = runner.invoke(args=["users", "set-roles", "grader1", "--role", "grader", "--role", "chief_grader"])
    assert roles.exit_code == 0 and sorted(user(session, "grader1").roles) == ["chief_grader", "grader"]
    missing = runner.invoke(args=["users", "disable", "nobody"])
    assert missing.exit_code != 0 and "没有用户" in missing.output
    actions = [(a.actor, a.action) for a in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
               if a.action.startswith("user.")]
    assert actions == [("cli:users disable", "user.disabled"), ("cli:users enable", "user.enabled"),
                       ("cli:users reset-password", "user.password_reset"),
                       ("cli:users set-roles", "user.roles_changed")]


def test_the_last_admin_cannot_be_disabled_from_the_command_line(app: Flask, seated: Any, session: Session) -> None:
    session.add(User(username="root", display_name="系统管理员", roles=["admin"],
                     password_hash=hash_password(ADMIN_PASSWORD, "low")))
    session.commit()
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["users", "disable", "root"])
    assert refused.exit_code != 0 and "最后一个系统管理员" in refused.output
    refused = runner.invoke(args=["users", "set-roles", "root", "--role", "centre_staff"])
    assert refused.exit_code != 0 and "最后一个系统管理员" in refused.output
    assert set(ROLES) >= set(user(session, "root").roles) and user(session, "root").active
