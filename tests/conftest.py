"""Shared fixtures: an application on a fresh database for every test, on SQLite and PostgreSQL.

`TEST_BACKENDS` (default "sqlite,postgresql"; "postgresql" when DATABASE_URL names a PostgreSQL
server) chooses the databases the `app` fixture runs on.
PostgreSQL is 127.0.0.1:5432 unless `TEST_POSTGRES_URL` says otherwise; tests create and drop
their own database there. Where the server is missing the PostgreSQL runs skip with the reason,
except under CI=true, where a missing service fails the run.
"""

from __future__ import annotations

import gc
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, close_all_sessions

import exam_server.models  # noqa: F401  (fills Base.metadata)
from item_bank.data import DEMO_BANK_CSV
from item_bank.db import Base
from item_bank.kernel import clear_all

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_ENV_URL = os.environ.get("DATABASE_URL", "")
# DATABASE_URL pointing at a PostgreSQL server runs the suite there (in a database it creates and drops).
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL") or (
    _ENV_URL if _ENV_URL.startswith("postgresql") else "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    b.strip()
    for b in os.environ.get(
        "TEST_BACKENDS", "postgresql" if _ENV_URL.startswith("postgresql") else "sqlite,postgresql"
    ).split(",")
    if b.strip()
]


# Redis pub/sub channels are one namespace for the whole server (database numbers do not separate them), so two
# xdist workers' servers would hear each other's broadcasts: the tests that publish run on one worker, in turn.
REDIS_MODULES = {"test_worker.py", "test_healthz.py", "test_scale_out.py", "test_hostile_exam_inputs.py",
                 "test_session_revocation.py"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("redis") or item.path.name in REDIS_MODULES:
            item.add_marker(pytest.mark.xdist_group("redis"))
    # The long tests (browsers, live servers, the fresh clone) first: handed out last, one of them kept a worker
    # busy for a minute after the other had finished everything else.
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") or item.get_closest_marker("browser") else 1)


def need_service(reason: str) -> None:
    """Skip for a missing service, or fail under CI where every service must be exercised."""
    if CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Every test starts with empty process caches (item_bank.kernel.process_cache): PostgreSQL tests reuse one
    database with its identities restarted, so a cached form id can mean another form in the next test."""
    clear_all()
    yield
    clear_all()


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any connection failure means "not here"
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc.__class__.__name__}"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    problem = _postgres_available()
    if problem:
        need_service(problem)
    name = f"exam_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = re.sub(r"/[^/]*$", f"/{name}", POSTGRES_ADMIN_URL)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


_IDLE_IN_TRANSACTION = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")


def _truncate_postgres(url: str) -> None:
    # A session an earlier test kept (one its app's teardown no longer knew of) or a connection it dropped unreturned
    # holds a connection idle inside a transaction, whose locks TRUNCATE would wait for forever. End them here while
    # the connection is alive: its ROLLBACK then works. Terminated under it, the connection's ROLLBACK would fail
    # later, whenever the GC finalised it, and the pool logs that failure with a traceback from inside whatever code
    # the collection interrupted (on CPython 3.11.7 a werkzeug route's compile: "AST constructor recursion depth
    # mismatch").
    close_all_sessions()
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        if conn.execute(text(_IDLE_IN_TRANSACTION)).first():
            gc.collect()  # an unreachable checked-out connection is returned, and rolled back, by its finaliser
            # Between tests nobody is inside a transaction: whatever still is (a thread's, another process's) ends.
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM ({_IDLE_IN_TRANSACTION}) AS stuck"))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the current schema, on each backend in TEST_BACKENDS."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        from item_bank.db import make_engine

        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        return url
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server_url")
        _truncate_postgres(url)
        return url
    raise ValueError(f"unknown backend {request.param}")


def app_config(database_url: str, **extra: Any) -> dict[str, Any]:
    cfg = {
        "DATABASE_URL": database_url,
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "PASSWORD_HASH_PROFILE": "low",
        "SOCKETIO_ASYNC_MODE": "threading",
        "RUN_BACKGROUND_TASKS": False,
        "SERVER_NAME": "localhost",
        # Jobs (imports, exports, assembly, ...) run inside submit_job, so a test sees their result at once;
        # tests/jobs and the benchmarks exercise the real worker.
        "JOBS_BACKEND": "immediate",
        # Warnings and errors only: a failing test's captured log is then about what went wrong, not every request
        # (tests/ops/test_logs.py turns INFO on where it checks the log lines).
        "LOG_LEVEL": "WARNING",
    }
    cfg.update(extra)
    return cfg


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    from exam_server import create_app
    from exam_server.extensions import db

    application = create_app(app_config(
        database_url,
        JOBS_DIR=str(tmp_path / "jobs" / "files"),
        JOBS_UPLOAD_DIR=str(tmp_path / "jobs" / "uploads"),
        JOBS_QUEUE_DB=str(tmp_path / "jobs" / "queue.db"),
    ))
    application.instance_path = str(tmp_path / "instance")

    @application.before_request
    def _fresh_request_globals() -> None:
        # The fixture's app context outlives requests, and Flask reuses it for them, so `g`
        # (Flask-Login's user, Flask-WTF's token) would leak from one test client to another.
        from flask import g

        g.__dict__.clear()

    with application.app_context():
        yield application
    db.dispose()


@pytest.fixture
def session(app: Flask) -> Session:
    from exam_server.extensions import db

    return db.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def shared_bank_csv() -> Path:
    return DEMO_BANK_CSV


@pytest.fixture(scope="session")
def small_bank_csv(shared_bank_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fourth item of the shared bank (all types and areas): enough for the 10-item paper, quick to import."""
    lines = shared_bank_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    import csv
    import io

    rows = list(csv.reader(io.StringIO("".join(lines))))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([rows[0], *rows[1::4]])
    path = tmp_path_factory.mktemp("bank") / "baoan_items_quarter.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def csrf_token_from(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


# ------------------------------------------------------------------ a small sitting

SMALL_PAPER = [
    {"type": "judge", "count": 3, "points": 1},
    {"type": "single", "count": 5, "points": 1},
    {"type": "multiple", "count": 2, "points": 1, "scoring_rule": "all_or_nothing"},
]


@dataclass
class Sitting:
    """A level-5 sitting built the real way: import, blueprint, assembly, lock, tickets, attempts."""

    seeded: Any
    attempt_ids: list[int]

    def login(self, client: FlaskClient, index: int = 0) -> str:
        """Log candidate `index` in through the real form; returns the exam page's CSRF token."""
        number, password, _ = self.seeded.logins[index]
        token = csrf_token_from(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"ticket": number, "password": password, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        return csrf_token_from(client.get("/exam").get_data(as_text=True))

    def staff_login(self, client: FlaskClient, username: str = "staff") -> str:
        token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
        response = client.post("/staff/login", data={"username": username, "password": "pw-staff", "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        return token


@pytest.fixture
def sitting(app: Flask, session: Session, small_bank_csv: Path) -> Sitting:
    """Three candidates, checked in, on a 10-item paper; staff accounts use the password "pw-staff"."""
    from sqlalchemy import select

    from exam_server.delivery.models import Attempt
    from exam_server.demo import seed_exam

    seeded = seed_exam(session, bank_path=small_bank_csv, sections=SMALL_PAPER, n_candidates=3,
                       hash_profile="low", staff_password="pw-staff")
    ids = list(session.scalars(select(Attempt.id).order_by(Attempt.ticket_id)))
    return Sitting(seeded, ids)


def exam_socket(app: Flask, client: FlaskClient, headers: dict[str, str] | None = None, auth: Any = None) -> Any:
    """A Socket.IO test client on /exam carrying `client`'s login cookie (and `headers` and the connect's `auth`,
    if given)."""
    from exam_server.extensions import socketio

    return socketio.test_client(app, namespace="/exam", flask_test_client=client, headers=headers, auth=auth)
