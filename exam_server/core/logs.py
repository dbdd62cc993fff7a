"""Structured logs: every line carries the request id, and a candidate's step its attempt id and ticket.

LOG_FORMAT=json writes one JSON object per line (for a centre's log collector); `text` (the default) writes lines a
person reads on a test site's console, with the same ids at the end. The ids travel in a context variable, so a
line logged anywhere below a request (a step, a store, a signal receiver) carries them without being handed them:
- an HTTP request takes the X-Request-ID its proxy sent, if sane, or a new one, and echoes it in its response;
- each Socket.IO event gets an id of its own (`bound(request_id=new_request_id(), ...)`);
- a candidate's step adds `attempt_id` and `ticket`; a job's lines carry its `job_id`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import itertools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, request
from flask_login import current_user

LOG_FORMATS = ("text", "json")
REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only if it is short and plain: it goes into every log line and back into a header.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# The fields a line may carry besides the message, in the order text lines show them.
CONTEXT_FIELDS = ("request_id", "attempt_id", "ticket", "event", "job_id")
_HANDLER_MARK = "_exam_server_handler"
_ENVIRON_ID = "exam_server.request_id"
_ENVIRON_TOKEN = "exam_server.log_context_token"
_ENVIRON_START = "exam_server.request_started"
# The server library's own access lines: the app writes its own, with the request id (`exam_server.access`).
ECHOED_ACCESS_LOGGERS = ("geventwebsocket.handler",)
# Requests not worth an access line: the page's own scripts and styles, a monitor's health probes.
QUIET_ENDPOINTS = frozenset({"core.client_asset", "static", "ops.healthz"})

access_log = logging.getLogger("exam_server.access")
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("exam_log_context", default={})  # noqa: B039


class _RequestIds:
    """Ids of 32 hex digits: this process's random half and a count. Every Socket.IO event takes one, and a uuid4
    (a system call for its randomness, an object) was a seventieth of a saturated server's time per save."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)  # a forked child must not repeat its parent's ids

    def renew(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.count = itertools.count(1)

    def new(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"


_request_ids = _RequestIds()


def new_request_id() -> str:
    return _request_ids.new()


def sane_request_id(value: str | None) -> str | None:
    """`value` if it may serve as a request id, else None."""
    return value if value and _SANE_REQUEST_ID.match(value) else None


def current_context() -> dict[str, Any]:
    return dict(_context.get())


def bind(**fields: Any) -> None:
    """Add `fields` (None values are skipped) to the current request's or event's log context."""
    values = {k: v for k, v in fields.items() if v is not None}
    if values:
        _context.set({**_context.get(), **values})


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """A log context of `fields` for the duration of the block (a Socket.IO event, a job), restored afterwards."""
    token = _context.set({k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current log context onto each record (`record.request_id`, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


_RECORD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the context ids and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The usual human line, with the context ids that are set appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # The default's text, with the date and time of day made once a second rather than for every line.
        second, stamp = self._second
        if int(record.created) != second:
            second = int(record.created)
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, stamp)
        return self.default_msec_format % (stamp, record.msecs)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if getattr(record, k, None) is not None)
        return f"{text} [{ids}]" if ids else text


def configure_logging(app: Flask) -> logging.Handler:
    """Install the one handler of the process on the root logger (replacing the one an earlier app installed),
    formatted as LOG_FORMAT says, at LOG_LEVEL."""
    fmt = app.config.get("LOG_FORMAT", "text")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT 应为 {' / '.join(LOG_FORMATS)} 之一，而不是 {fmt!r}")
    # No line shows the thread, process or calling function; finding them was a third of a line's cost, most of it
    # in the thread: each Socket.IO event runs in a greenlet of its own, for which gevent made a new
    # threading.Thread stand-in every line (the logging HOWTO's "Optimization" names these switches).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    for name in ECHOED_ACCESS_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def installed_handler() -> logging.Handler | None:
    """The handler `configure_logging` installed, if any (tests point its stream elsewhere)."""
    return next((h for h in logging.getLogger().handlers if getattr(h, _HANDLER_MARK, False)), None)


def init_request_ids(app: Flask) -> None:
    """Give every HTTP request an id (the proxy's X-Request-ID if sane, else a new one), bound to its log lines
    and echoed in the response's X-Request-ID; a request naming an attempt in its URL (a candidate's HTTP step)
    also carries the attempt id and the candidate's ticket; each request ends in one access line."""

    # Kept in the WSGI environ, not in `g`: the id must survive whatever later hooks do to `g`.
    @app.before_request
    def _take_request_id() -> None:
        request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        request.environ[_ENVIRON_ID] = request_id
        request.environ[_ENVIRON_START] = time.perf_counter()
        fields: dict[str, Any] = {"request_id": request_id}
        attempt_id = (request.view_args or {}).get("attempt_id")
        if isinstance(attempt_id, int):
            fields["attempt_id"] = attempt_id
            if current_user.is_authenticated and getattr(current_user, "is_candidate", False):
                fields["ticket"] = getattr(current_user, "number", None)
        request.environ[_ENVIRON_TOKEN] = _context.set(fields)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        request_id = request.environ.get(_ENVIRON_ID)
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
            if request.endpoint not in QUIET_ENDPOINTS:
                took_ms = (time.perf_counter() - request.environ.get(_ENVIRON_START, time.perf_counter())) * 1000
                access_log.info("%s %s %s", request.method, request.path, response.status_code,
                                extra={"status": response.status_code, "duration_ms": round(took_ms, 1)})
        return response

    @app.teardown_request
    def _drop_request_id(_exc: BaseException | None) -> None:
        token = request.environ.pop(_ENVIRON_TOKEN, None)
        if token is not None:
            with contextlib.suppress(ValueError):  # set in another context (a copied one): nothing to undo
                _context.reset(token)
