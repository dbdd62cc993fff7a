"""One handler for every refusal: Chinese pages for browsers, JSON for the API, never Werkzeug's English."""

from __future__ import annotations

from flask import Flask, abort
from flask.testing import FlaskClient

from item_bank.kernel import DomainError


class Closed(DomainError):
    default_code, default_status = "closed", 409


def _add_routes(app: Flask) -> None:
    # Routes added after the first request are refused by Flask, so each test adds them to a fresh app.
    def refuse() -> str:
        raise Closed("报名已截止（2026-12-01）。")

    def forbid() -> str:
        abort(403)

    app.add_url_rule("/_test/refuse", "test_refuse", refuse)
    app.add_url_rule("/api/_test/refuse", "test_api_refuse", refuse)
    app.add_url_rule("/_test/forbid", "test_forbid", forbid)


def test_a_domain_error_is_a_chinese_page_or_json(app: Flask) -> None:
    _add_routes(app)
    client: FlaskClient = app.test_client()
    page = client.get("/_test/refuse", headers={"Accept": "text/html"})
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "报名已截止（2026-12-01）。" in html and "操作冲突" in html
    api = client.get("/api/_test/refuse")
    assert api.status_code == 409
    assert api.get_json() == {"ok": False, "error": "closed", "message": "报名已截止（2026-12-01）。"}


def test_http_errors_speak_chinese(app: Flask) -> None:
    _add_routes(app)
    client = app.test_client()
    missing = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    text = missing.get_data(as_text=True)
    assert "页面不存在" in text and "Not Found" not in text
    forbidden = client.get("/_test/forbid", headers={"Accept": "text/html"})
    assert forbidden.status_code == 403 and "没有权限" in forbidden.get_data(as_text=True)
    wrong_method = client.delete("/login", headers={"Accept": "text/html"})
    assert wrong_method.status_code == 405 and "Allow" in wrong_method.headers
    assert client.get("/api/no/such").get_json()["error"] == "http_404"
