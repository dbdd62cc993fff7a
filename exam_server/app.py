"""The application factory: extensions, blueprints, commands and the background clock."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, NoReturn

from flask import Flask, abort
from werkzeug.middleware.proxy_fix import ProxyFix

import exam_server.pipeline  # noqa: F401  (connects the results pipeline's signal receivers)
from exam_server.cli import register_commands
from exam_server.core import auth  # noqa: F401  (registers the user loader)
from exam_server.core.config import load_config
from exam_server.core.cookies import ConnectionSessionInterface
from exam_server.core.errors import register_error_handlers
from exam_server.core.headers import register_security_headers
from exam_server.core.logs import configure_logging, init_request_ids
from exam_server.core.navigation import navigation
from exam_server.core.timefmt import local
from exam_server.delivery.limits import MAX_SOCKET_MESSAGE_BYTES
from exam_server.extensions import csrf, db, login_manager, socketio
from exam_server.jobs.queue import init_app as init_jobs
from exam_server.sitenode.roles import init_app as init_node_role


class PacketJson:
    """The JSON of Socket.IO packets: UTF-8 text instead of \\uXXXX escapes for Chinese.

    A start's acknowledgement carries the paper as the JSON text GET /api/attempt answers (a string, which the
    packet encoder only escapes instead of re-encoding 100 items: 0.10 ms against 0.54 ms per candidate). With
    the standard escapes that packet was 63 KB for a 38 KB paper; as UTF-8 it is 43 KB in the same time
    (benchmarks/join_cost.py), and every refusal's Chinese message shrinks too. A WebSocket text frame is UTF-8.
    """

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("ensure_ascii", False)
        return json.dumps(obj, **kwargs)

    loads = staticmethod(json.loads)


# Each web domain exposes `blueprint` (its whole URL table); its Socket.IO handlers are module-level
# `@socketio.on(...)` in a module the web module imports.
WEB_DOMAINS = (
    "exam_server.core.views",
    "exam_server.core.admin",
    "exam_server.delivery.views",
    "exam_server.staff.views",
    "exam_server.sessions.views",
    "exam_server.proctoring.views",
    "exam_server.proctoring.logins",
    "exam_server.grading.views",
    "exam_server.results.views",
    "exam_server.bank.views",
    "exam_server.assembly.views",
    "exam_server.analysis.views",
    "exam_server.jobs.views",
    "exam_server.ops.views",
    "exam_server.organisations.views",
    "exam_server.applications.views",
    "exam_server.certificates.views",
    "exam_server.certificates.public",
    "exam_server.sitenode.views",
    "exam_server.sitenode.results_views",
    "exam_server.sitenode.replication_views",
    "exam_server.reports.views",
    "exam_server.skills.views",
)
# Modules that register `@job_handler`s: imported by every process, so the web (labels, who may read)
# and the worker (what to run) know the same kinds of job.
JOB_MODULES: tuple[str, ...] = (
    "exam_server.assembly.jobs",
    "exam_server.analysis.jobs",
    "exam_server.results.jobs",
    "exam_server.sessions.jobs",
    "exam_server.ops.jobs",
    "exam_server.bank.jobs",
    "exam_server.applications.jobs",
    "exam_server.certificates.jobs",
    "exam_server.sitenode.jobs",
    "exam_server.sitenode.results_jobs",
    "exam_server.reports.jobs",
    "exam_server.skills.jobs",
)

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"


def _answered_by_socketio() -> NoReturn:
    abort(404)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application; `config` overrides what the environment says (tests use it)."""
    app = Flask(__name__, instance_relative_config=True)
    cfg = load_config(Path(app.instance_path), config)
    app.config.update(cfg)
    app.config.setdefault("CLIENT_DIR", str(CLIENT_DIR))

    # Import the domains before socketio.init_app: handlers declared before the first init_app are
    # kept by Flask-SocketIO and attached to every app's server (each test builds a new app).
    modules = [importlib.import_module(name) for name in WEB_DOMAINS]
    for name in JOB_MODULES:
        importlib.import_module(name)

    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "core.candidate_login"
    login_manager.login_message = "请先登录。"
    init_jobs(app)
    socketio.init_app(
        app,
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        # Same origin only: the browser page and the socket come from this server.
        cors_allowed_origins=app.config.get("SOCKETIO_CORS_ORIGINS"),
        manage_session=False,
        # Larger than any event the exam accepts (delivery/limits.py), so an oversized one is read and refused
        # with an acknowledgement instead of closing the connection.
        max_http_buffer_size=MAX_SOCKET_MESSAGE_BYTES,
        ping_timeout=app.config["SOCKETIO_PING_TIMEOUT"],
        json=PacketJson,
    )
    if app.config["PROXY_FIX_X_FOR"] > 0:
        # The client's address (login throttling) from X-Forwarded-For, as set by the trusted proxies only.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"])  # type: ignore[method-assign]
    app.session_interface = ConnectionSessionInterface()
    # Each Socket.IO event runs in a request context built from its connection's first request, to
    # /socket.io/. With no rule for that path, building the context raises NotFound and keeps it with
    # its traceback: some fifty objects in reference cycles per event, freed only by the collector's
    # full passes, which stall every socket of the process (100-300 ms, every few seconds, under
    # benchmarks/load.py). The rules are never served: the Socket.IO middleware answers that path first.
    for websocket in (False, True):  # a websocket's environ matches only rules for websockets
        app.add_url_rule("/socket.io/", endpoint="socketio", view_func=_answered_by_socketio,
                         methods=["GET"] if websocket else ["GET", "POST"], strict_slashes=False,
                         websocket=websocket)
    app.jinja_env.filters["local"] = local
    app.jinja_env.globals["navigation"] = navigation

    for module in modules:
        app.register_blueprint(module.blueprint)
    init_node_role(app)
    register_error_handlers(app)
    register_security_headers(app)
    configure_logging(app)
    init_request_ids(app)

    register_commands(app)
    return app
