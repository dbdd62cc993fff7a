"""Helpers of the job tests: staff accounts that log in through the real form, fresh reads, waiting on a condition,
`examctl worker` and `examctl job` in processes of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import app_config, csrf_token_from
from flask import Flask, g
from flask.testing import FlaskClient

from exam_server import create_app
from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.extensions import db
from exam_server.jobs.models import Job
from item_bank.db import Base, make_engine

PASSWORD = "pw-jobs-staff"
ROOT = Path(__file__).resolve().parents[1]
# `examctl` itself (exam_server.entry:main), after importing the test handlers so a worker knows them.
EXAMCTL = [sys.executable, "-c", "import jobs_handlers; from exam_server.entry import main; main()"]


def build_app(database_url: str, tmp_path: Path, **overrides: Any) -> Flask:
    """An app on `database_url` with `overrides` (JOBS_*), as the shared `app` fixture builds it."""
    application = create_app(app_config(database_url, **overrides))
    application.instance_path = str(tmp_path / "instance")

    @application.before_request
    def _fresh_request_globals() -> None:
        g.__dict__.clear()  # the fixture's app context outlives requests (see tests/conftest.py)

    return application


def add_staff(username: str, *roles: str) -> User:
    user = User(username=username, display_name=username, password_hash=hash_password(PASSWORD, "low"),
                roles=list(roles))
    db.session.add(user)
    db.session.commit()
    return user


def staff_client(app: Flask, username: str) -> FlaskClient:
    """A test client logged in as `username` through the staff login form."""
    client = app.test_client()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def fresh_job(job_id: int) -> Job:
    """The job as the database has it now (a new transaction: SQLite would keep showing an old snapshot)."""
    db.session.rollback()
    job = db.session.get(Job, job_id, populate_existing=True)
    assert job is not None
    db.session.commit()  # and leave no read open: the test's next write must not start from this snapshot
    return job


def wait_until(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something true, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def file_database(tmp_path: Path) -> str:
    """A SQLite file with the current schema, for an app in this process and examctl processes to share."""
    url = f"sqlite:///{tmp_path / 'exam.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


def examctl_env(app: Flask) -> dict[str, str]:
    """The environment of an examctl process that sees what `app` sees: its database and its JOBS_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "SOCKETIO_", "DATABASE_URL"))}
    env.update({k: str(v) for k, v in app.config.items() if k.startswith("JOBS_") and v is not None})
    env.update(
        DATABASE_URL=app.config["DATABASE_URL"],
        SECRET_KEY="test-secret",
        PASSWORD_HASH_PROFILE="low",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    )
    return env


class Worker:
    """`examctl worker` in a process of its own, its output in a file the test can read while it runs."""

    def __init__(self, app: Flask, log: Path) -> None:
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen([*EXAMCTL, "worker", "--workers", "2"], cwd=ROOT, env=examctl_env(app),
                                        stdout=self._out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._out.close()


def examctl(app: Flask, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `examctl ARGS` to its end, beside `app`."""
    return subprocess.run([*EXAMCTL, *args], cwd=ROOT, env=examctl_env(app), capture_output=True, text=True,
                          timeout=120, check=False)
