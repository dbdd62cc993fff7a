"""A serving process opens its pool's connections before it takes anyone in (`Database.open_pool`): after a restart
the first rejoins on PostgreSQL each opened one on a busy machine, and the restarted process took candidates back
slowly for its first seconds (issue 17)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from browser_support import LiveServer
from flask import Flask
from sqlalchemy import create_engine, text

from exam_server.core.database import Database

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _database(url: str, pool_size: int) -> Database:
    app = Flask(__name__)
    app.config.update(DATABASE_URL=url, DB_POOL_SIZE=pool_size)
    database = Database()
    database.init_app(app)
    return database


def _backends(url: str, application: str) -> int:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                                    {"name": application}).scalar_one())
    finally:
        admin.dispose()


def test_the_pools_connections_are_opened_and_kept(database_url: str) -> None:
    application = f"open-pool-{uuid.uuid4().hex[:8]}"
    database = _database(f"{database_url}?application_name={application}", 3)
    assert database.engine is not None
    try:
        assert database.open_pool() == 3
        assert database.engine.pool.checkedin() == 3  # type: ignore[attr-defined]
        assert _backends(database_url, application) == 3
    finally:
        database.engine.dispose()


def test_with_the_database_away_the_server_starts_all_the_same(database_url: str) -> None:
    database = _database("postgresql+psycopg2://postgres@127.0.0.1:1/nothing?connect_timeout=2", 3)
    assert database.open_pool() == 0


def test_a_serving_process_has_its_pool_open_when_it_answers_first(database_url: str, tmp_path: Path) -> None:
    application = f"serving-{uuid.uuid4().hex[:8]}"
    server = LiveServer(f"{database_url}?application_name={application}", tmp_path / "instance", DB_POOL_SIZE="6",
                        RUN_BACKGROUND_TASKS="0").start()  # it has answered /healthz, which holds no connection
    try:
        assert _backends(database_url, application) >= 6
    finally:
        server.stop()
