"""The engine and the request-scoped SQLAlchemy session of the web layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

from item_bank.db import make_engine, make_session_factory

if TYPE_CHECKING:
    from flask import Flask


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
            kwargs.update(pool_size=app.config["DB_POOL_SIZE"], max_overflow=5, pool_pre_ping=True)
        self.engine = make_engine(url, **kwargs)
        self._scoped = scoped_session(make_session_factory(self.engine))

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.remove()

    @property
    def session(self) -> Session:
        assert self._scoped is not None, "Database.init_app was not called"
        return self._scoped()

    def remove(self) -> None:
        if self._scoped is not None:
            self._scoped.remove()

    def dispose(self) -> None:
        self.remove()
        if self.engine is not None:
            self.engine.dispose()
