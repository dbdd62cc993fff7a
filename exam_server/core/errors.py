"""One handler for every refusal: a page for a browser, JSON for the API and the exam page's HTTP fallback,
an acknowledgement for a Socket.IO event. Every message a user reads is Chinese, error pages included."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from exam_server.core.database import UNAVAILABLE_ERRORS, DatabaseUnavailable
from item_bank.kernel import DomainError

# Werkzeug's own pages are English; these replace their titles and sentences.
HTTP_MESSAGES = {
    400: ("请求有误", "提交的内容格式不正确，请返回上一页检查后重试。"),
    401: ("需要登录", "请先登录。"),
    403: ("没有权限", "您的账号没有权限查看或执行此操作。"),
    404: ("页面不存在", "您访问的页面不存在，或已被删除。"),
    405: ("操作方式不正确", "此页面不接受这种操作方式。"),
    409: ("操作冲突", "当前状态下不能执行此操作。"),
    413: ("文件过大", "上传的文件超过了允许的大小。"),
    422: ("内容无法处理", "提交的内容无法处理，请检查后重试。"),
    429: ("操作过于频繁", "操作过于频繁，请稍后再试。"),
    500: ("服务器内部错误", "服务器处理请求时出错，请稍后重试或联系管理员。"),
    503: ("服务暂不可用", "服务暂时不可用，请稍后重试。"),
}


def wants_json() -> bool:
    """The API, the exam page's HTTP fallback and scripted clients get JSON; browsers navigating get a page."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def refusal_response(code: str, message: str, status: int, **extra: Any) -> ResponseReturnValue:
    """The one shape of a refusal, as JSON or as the Chinese error page."""
    if wants_json():
        return jsonify({"ok": False, "error": code, "message": message, **extra}), status
    title = HTTP_MESSAGES.get(status, ("无法完成操作", ""))[0]
    return render_template("core/error.html", title=title, message=message, status=status), status


def socket_ack(exc: DomainError) -> dict[str, Any]:
    """A refused Socket.IO event's acknowledgement (the same fields as the JSON answer)."""
    return exc.ack()


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> ResponseReturnValue:
        return refusal_response(exc.code, exc.message, exc.status)

    def _database_unavailable(exc: Exception) -> ResponseReturnValue:
        # Nothing was stored (the database restarting, a connection lost): 503, and the exam page's HTTP
        # fallback sends the same step again. The session's dead connection is dropped at teardown.
        app.logger.warning("database out of reach during %s: %s", request.path, str(exc).splitlines()[0][:200])
        refusal = DatabaseUnavailable()
        return refusal_response(refusal.code, refusal.message, refusal.status)

    for error in UNAVAILABLE_ERRORS:
        app.register_error_handler(error, _database_unavailable)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        sentence = HTTP_MESSAGES.get(status, ("", "请求未能完成。"))[1]
        if status == 413 and app.config.get("MAX_CONTENT_LENGTH"):
            limit_mb = app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
            sentence = f"上传的文件超过了允许的大小（最大 {limit_mb:g} MB），请拆分后分批上传。"
        # A view that aborts with its own Chinese description keeps it; Werkzeug's English default does not.
        own = exc.description if exc.description and exc.description != type(exc).description else None
        response = make_response(refusal_response(f"http_{status}", own or sentence, status))
        for name, value in exc.get_headers():  # Allow (405), Retry-After (429), WWW-Authenticate ...
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response
