"""Security headers on every response; user-supplied images are inert; the Secure cookie flag from the environment."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from flask import Flask

from exam_server.core.config import load_config

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_pages_and_errors_carry_the_headers(app: Flask) -> None:
    client = app.test_client()
    for url in ("/login", "/staff/login", "/no/such/page"):
        answer = client.get(url)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", url
        assert answer.headers["X-Frame-Options"] == "DENY", url
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], url


def test_an_image_response_runs_nothing(app: Flask) -> None:
    app.add_url_rule("/_test/png", "test_png", lambda: app.response_class(PNG, mimetype="image/png"))
    answer = app.test_client().get("/_test/png")
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("value", "secure"), [("1", True), ("true", True), ("0", False), (None, False)])
def test_the_secure_cookie_flag_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None, secure: bool
) -> None:
    if value is None:
        monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    else:
        monkeypatch.setenv("SESSION_COOKIE_SECURE", value)
    assert load_config(tmp_path, {"SECRET_KEY": "x"})["SESSION_COOKIE_SECURE"] is secure
