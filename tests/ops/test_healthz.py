"""/healthz: 200 when the database, the job queue, the message queue and disk space are fine; 503 naming each failure;
no login needed and nothing revealed (no paths, addresses or error texts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import need_service
from flask import Flask

from exam_server.jobs.queue import job_queue

REDIS_URL = "redis://127.0.0.1:6379/0"
NOWHERE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once


def _health(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/healthz")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def _reveals_nothing(app: Flask, body: dict[str, Any], tmp_path: Path) -> None:
    text = str(body)
    for secret in (str(tmp_path), "//", "127.0.0.1", "Error", app.config["DATABASE_URL"]):
        assert secret not in text, f"/healthz shows {secret!r}: {text}"


def test_all_well_without_a_login(app: Flask, tmp_path: Path) -> None:
    status, body = _health(app)
    assert status == 200, body
    assert body["ok"] is True and body["failed"] == []
    assert set(body["checks"]) == {"database", "job_queue", "message_queue", "disk"}
    assert body["checks"]["message_queue"] == {"ok": True, "skipped": True}  # none configured
    assert body["checks"]["disk"]["min_free_mb"] == 500
    _reveals_nothing(app, body, tmp_path)


def test_an_unreachable_database_fails_the_check(app: Flask, tmp_path: Path) -> None:
    app.config["DATABASE_URL"] = "postgresql+psycopg2://nobody:secret@127.0.0.1:1/nowhere"
    status, body = _health(app)
    assert status == 503 and body["failed"] == ["database"]
    assert body["checks"]["database"] == {"ok": False, "message": "数据库无法访问"}
    _reveals_nothing(app, body, tmp_path)
    assert "secret" not in str(body)


def test_a_missing_sqlite_file_fails_the_check(app: Flask, tmp_path: Path) -> None:
    app.config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'gone.db'}"
    status, body = _health(app)
    assert status == 503 and body["failed"] == ["database"]
    assert not (tmp_path / "gone.db").exists()  # the probe does not create it


def test_a_sqlite_job_queue(app: Flask, tmp_path: Path) -> None:
    queue = job_queue(app)
    queue.backend = "sqlite"
    app.config["JOBS_QUEUE_DB"] = str(tmp_path / "queue" / "queue.db")
    status, body = _health(app)  # not made yet, but its folder may be
    assert status == 200 and body["checks"]["job_queue"] == {"ok": True, "backend": "sqlite"}

    (tmp_path / "queue").mkdir()
    (tmp_path / "queue" / "queue.db").write_bytes(b"this is not a database" * 100)
    status, body = _health(app)
    assert status == 503 and body["failed"] == ["job_queue"]
    assert body["checks"]["job_queue"]["message"] == "任务队列无法访问"
    _reveals_nothing(app, body, tmp_path)


def test_an_unreachable_redis_job_queue_fails_the_check(app: Flask, tmp_path: Path) -> None:
    job_queue(app).backend = "redis"
    app.config["JOBS_REDIS_URL"] = NOWHERE_REDIS
    status, body = _health(app)
    assert status == 503 and body["failed"] == ["job_queue"]
    _reveals_nothing(app, body, tmp_path)


def test_an_unreachable_message_queue_fails_the_check(app: Flask, tmp_path: Path) -> None:
    app.config["SOCKETIO_MESSAGE_QUEUE"] = NOWHERE_REDIS
    status, body = _health(app)
    assert status == 503 and body["failed"] == ["message_queue"]
    assert body["checks"]["message_queue"]["message"] == "消息队列（Redis）无法访问"
    _reveals_nothing(app, body, tmp_path)


@pytest.mark.redis
def test_a_reachable_redis(app: Flask) -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        need_service(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    app.config["SOCKETIO_MESSAGE_QUEUE"] = REDIS_URL
    job_queue(app).backend = "redis"
    status, body = _health(app)
    assert status == 200, body
    assert body["checks"]["message_queue"] == {"ok": True}
    assert body["checks"]["job_queue"] == {"ok": True, "backend": "redis"}


def test_low_disk_space_fails_the_check(app: Flask) -> None:
    app.config["HEALTH_MIN_FREE_MB"] = 10**12  # more than any disk has
    status, body = _health(app)
    assert status == 503 and body["failed"] == ["disk"]
    disk = body["checks"]["disk"]
    assert disk["ok"] is False and disk["message"].startswith("磁盘剩余空间不足")
    assert {"instance", "jobs", "job_uploads"} <= set(disk["free_mb"])


def test_only_get(app: Flask) -> None:
    assert app.test_client().post("/healthz").status_code == 405
