"""The staff password policy, through the command that creates accounts."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.passwords import password_problem


@pytest.mark.parametrize(
    "password",
    ["", "1", "short9!", "password123", "Passw0rd!!", "1111111111", "0123456789", "qwertyuiop", "zhang-wei-2026"],
)
def test_weak_passwords_are_named(password: str) -> None:
    assert password_problem(password, "zhang-wei") is not None


def test_a_long_uncommon_password_passes() -> None:
    assert password_problem("巡逻-夜班-7-甲区", "wang") is None
    assert password_problem("tiger-lamp-river-42", "wang") is None


def test_create_user_refuses_a_weak_password_and_stores_nothing(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    for weak in ("1", "", "password123"):
        result = runner.invoke(args=["create-user", "wang", "--role", "centre_staff", "--password", weak])
        assert result.exit_code != 0, weak
        assert "密码" in result.output, result.output
    assert session.scalar(select(User).where(User.username == "wang")) is None
    ok = runner.invoke(args=["create-user", "wang", "--role", "centre_staff", "--password", "tiger-lamp-river-42"])
    assert ok.exit_code == 0, ok.output
    assert session.scalar(select(User).where(User.username == "wang")) is not None
