"""The engine and the request-scoped SQLAlchemy session of the web layer."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, scoped_session

from item_bank.db import make_engine, make_session_factory
from item_bank.kernel import DomainError

if TYPE_CHECKING:
    from flask import Flask


log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# A pooled connection idle this long is pinged before use: the database server may have restarted, or
# a firewall dropped it. One in steady use is not: a ping is one more round trip for every answer
# saved, and during a reconnect storm each round trip waits a turn of the server's event loop. A
# connection that died while in use fails its operation, the pool then replaces every connection
# as old as it, and the candidate's handlers run the step once more (`once_more_after_disconnect`).
PING_AFTER_IDLE_S = 10.0


# A step that hits these stored nothing: the database server is unreachable (restarting, refusing
# connections, shutting down), the connection died, or no pooled connection came free in time. The
# client is told to try again (DatabaseUnavailable) instead of getting no answer at all.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
# How long a request that cannot answer "try again" (a socket's connect) waits for the database.
CONNECT_PATIENCE_S = 15.0


class DatabaseUnavailable(DomainError):
    """The database could not be reached: nothing was stored, and the same request may be sent again."""

    default_code = "unavailable"
    default_status = 503

    def __init__(self, message: str = "服务器暂时无法访问数据库，本次操作未被保存，请稍后重试。") -> None:
        super().__init__(message)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database was out of reach (or the connection lost), not a fault of the request."""
    return isinstance(exc, UNAVAILABLE_ERRORS) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a connection checked out after more than `idle_s` in the pool; replace it if dead."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned <= idle_s:  # new, or in steady use
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            raise DisconnectionError("a pooled connection was found dead after idling")  # the pool retries


class Database:
    """Holds one engine and a scoped session per request / greenlet; `db.session` is that session."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._scoped: scoped_session[Session] | None = None

    def init_app(self, app: Flask) -> None:
        url: str = app.config["DATABASE_URL"]
        kwargs: dict[str, Any] = {}
        if not url.startswith("sqlite"):
            # A bounded pool: many sockets share few connections.
            kwargs.update(pool_size=app.config["DB_POOL_SIZE"], max_overflow=5)
        self.engine = make_engine(url, **kwargs)
        if not url.startswith("sqlite"):
            ping_when_idle(self.engine, PING_AFTER_IDLE_S)
        self._scoped = scoped_session(make_session_factory(self.engine))

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.remove()

    def open_pool(self) -> int:
        """Open the pool's connections now, before the server takes anyone in; how many it opened.

        After a restart a whole centre is queued at the port. On PostgreSQL the restarted process's first
        rejoins each opened a connection (and the first of them ran the dialect's first queries) on a machine busy
        with the other process's answers, and its first 3.5 s took back 11-21 candidates a second against 160-380
        after (issue 17; with the pool opened first, 26-118). SQLite opens its connections in microseconds.
        """
        assert self.engine is not None, "Database.init_app was not called"
        if self.engine.dialect.name == "sqlite":
            return 0
        size = self.engine.pool.size()  # type: ignore[attr-defined]
        opened: list[Any] = []
        try:
            for _ in range(size):
                opened.append(self.engine.raw_connection())
        except (DBAPIError, self.engine.dialect.loaded_dbapi.Error) as exc:  # the pool raises the driver's own
            # The database is away: the server starts all the same, and its requests wait for it (`patient`).
            log.warning("database out of reach at start: %s", str(exc).splitlines()[0][:200])
        for connection in opened:
            connection.close()  # back to the pool, open
        return len(opened)

    @property
    def session(self) -> Session:
        assert self._scoped is not None, "Database.init_app was not called"
        return self._scoped()

    def once_more_after_disconnect(self, handler: Callable[P, T]) -> Callable[P, T]:
        """Run a handler again if the connection it used had died (the database server restarted).

        The pool pings only connections that sat idle, so the first step on one that died in use
        fails, and the pool replaces it. Only for handlers that are safe to repeat: every candidate
        step is (an answer or a submit by its key, a join or a start by the attempt's state).
        """

        @functools.wraps(handler)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return handler(*args, **kwargs)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                log.warning("database connection lost in %s; running it again", handler.__name__)
                # Its connection may be dead too, and a rollback on it would raise: drop it unused.
                self.forget_connection()
                return handler(*args, **kwargs)

        return run

    def patient(self, handler: Callable[P, T]) -> Callable[P, T]:
        """Run a handler again, for up to CONNECT_PATIENCE_S, while the database is out of reach.

        For a request whose client cannot be told to try again: refusing a socket's connect makes the
        browser's Socket.IO client give up on that socket, so its connect waits for the database
        instead (under gevent a waiting request costs a greenlet, nothing more).
        """

        @functools.wraps(handler)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            waited = 0.0
            while True:
                try:
                    return handler(*args, **kwargs)
                except Exception as exc:
                    if not database_unavailable(exc) or waited >= CONNECT_PATIENCE_S:
                        raise
                    self.forget_connection()
                time.sleep(0.5)  # gevent's sleep when serving: only this greenlet waits
                waited += 0.5

        return run

    def forget_connection(self) -> None:
        """Drop the session and the connection it held without a rollback (on a dead connection that
        would raise too), so the next statement checks out a new one."""
        if self._scoped is not None:
            self.session.invalidate()
            self._scoped.remove()

    def remove(self) -> None:
        if self._scoped is not None:
            self._scoped.remove()

    def dispose(self) -> None:
        self.remove()
        if self.engine is not None:
            self.engine.dispose()
