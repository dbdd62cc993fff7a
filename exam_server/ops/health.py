"""The health check behind /healthz: can this process reach what it needs to take candidates' answers?

Each check answers within a couple of seconds even when its service hangs, and says only ok / not ok with a short
Chinese reason: no addresses, paths, versions or exception texts (the page needs no login).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from exam_server.jobs import files
from exam_server.jobs.queue import job_queue

log = logging.getLogger(__name__)

TIMEOUT_S = 2
_probes: dict[str, Engine] = {}
_probes_lock = threading.Lock()


@dataclass
class Check:
    name: str
    ok: bool
    message: str = ""
    skipped: bool = False
    data: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok}
        if self.skipped:
            body["skipped"] = True
        if self.message:
            body["message"] = self.message
        body.update(self.data or {})
        return body


def _probe_engine(url: str) -> Engine:
    """An engine of its own for the probe, short timeouts and no pool: the app's pool may be exhausted (that is
    worth knowing, but a probe that waits 30 s for a pooled connection tells a load balancer nothing)."""
    with _probes_lock:
        engine = _probes.get(url)
        if engine is None:
            args: dict[str, Any]
            if make_url(url).get_backend_name() == "sqlite":
                args = {"timeout": TIMEOUT_S}
            else:
                args = {"connect_timeout": TIMEOUT_S, "options": f"-c statement_timeout={TIMEOUT_S * 1000}"}
            engine = _probes[url] = create_engine(url, poolclass=NullPool, connect_args=args)
        return engine


def check_database(app: Flask) -> Check:
    url = app.config["DATABASE_URL"]
    try:
        if make_url(url).get_backend_name() == "sqlite":
            path = make_url(url).database or ""
            if path and path != ":memory:" and not Path(path).is_file():
                return Check("database", False, "数据库文件不存在")
        with _probe_engine(url).connect() as connection:
            connection.execute(text("SELECT 1")).scalar()
    except Exception as exc:  # any failure to reach it is the answer
        log.warning("health: database unreachable (%s)", exc.__class__.__name__)
        return Check("database", False, "数据库无法访问")
    return Check("database", True)


def _redis_ping(url: str) -> None:
    import redis  # only a centre's Redis set-up has the client installed

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    try:
        client.ping()
    finally:
        client.close()


def check_job_queue(app: Flask) -> Check:
    queue = job_queue(app)
    try:
        if queue.backend == "immediate":
            return Check("job_queue", True, skipped=True, data={"backend": "immediate"})
        if queue.backend == "redis":
            _redis_ping(queue.redis_url())
        else:
            path = queue.queue_db()
            if path.exists():
                connection = sqlite3.connect(path, timeout=TIMEOUT_S)
                try:
                    connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
                finally:
                    connection.close()
            else:  # created at the first submission: its folder must let it be
                folder = next((p for p in [path.parent, *path.parents] if p.exists()), None)
                if folder is None or not os.access(folder, os.W_OK | os.X_OK):
                    raise PermissionError("queue folder not writable")
    except Exception as exc:
        log.warning("health: job queue unreachable (%s)", exc.__class__.__name__)
        return Check("job_queue", False, "任务队列无法访问", data={"backend": queue.backend})
    return Check("job_queue", True, data={"backend": queue.backend})


def check_message_queue(app: Flask) -> Check:
    url = app.config.get("SOCKETIO_MESSAGE_QUEUE") or ""
    if not url:
        return Check("message_queue", True, skipped=True)
    try:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("not a Redis URL")
        _redis_ping(url)
    except Exception as exc:
        log.warning("health: Socket.IO message queue unreachable (%s)", exc.__class__.__name__)
        return Check("message_queue", False, "消息队列（Redis）无法访问")
    return Check("message_queue", True)


def _written_folders(app: Flask) -> dict[str, Path]:
    folders = {
        "instance": Path(app.instance_path),
        "jobs": files.jobs_dir(app.config, app.instance_path),
        "job_uploads": files.upload_dir(app.config, app.instance_path),
    }
    url = make_url(app.config["DATABASE_URL"])
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        folders["database"] = Path(url.database).parent
    return folders


def check_disk(app: Flask) -> Check:
    """Free space where the server writes; a folder not yet made is measured at its nearest existing parent."""
    minimum = int(app.config.get("HEALTH_MIN_FREE_MB", 500))
    free: dict[str, int] = {}
    low = []
    for name, folder in _written_folders(app).items():
        existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
        if existing is None:
            continue
        free[name] = shutil.disk_usage(existing).free // (1024 * 1024)
        if free[name] < minimum:
            low.append(name)
    data = {"free_mb": free, "min_free_mb": minimum}
    if low:
        return Check("disk", False, f"磁盘剩余空间不足 {minimum} MB：{'、'.join(low)}", data=data)
    return Check("disk", True, data=data)


CHECKS: tuple[Callable[[Flask], Check], ...] = (check_database, check_job_queue, check_message_queue, check_disk)


def health(app: Flask) -> tuple[bool, dict[str, Any]]:
    """Every check; (all ok, the JSON body)."""
    results = [check(app) for check in CHECKS]
    ok = all(result.ok for result in results)
    return ok, {"ok": ok, "checks": {result.name: result.as_json() for result in results},
                "failed": [result.name for result in results if not result.ok]}
