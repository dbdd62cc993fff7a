"""A real server process for browser and multi-process tests, and Debian's Chromium through Playwright.

The server runs as `examctl run` in a subprocess (gevent, as in production), so tests can kill and
restart it. Under CI=true a missing Chromium fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """`examctl run` on a free port against `database_url`; start, stop, kill and restart it."""

    def __init__(self, database_url: str, instance: Path, port: int | None = None, *, worker: bool = False,
                 **env: str) -> None:
        self.database_url = database_url
        self.instance = instance
        self.port = port or free_port()
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = instance / f"server-{self.port}.log"
        # `examctl worker` beside the server, as a centre runs them: scoring after 交卷 is a job.
        self.with_worker = worker
        self.worker: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.instance.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            SECRET_KEY="live-test-secret",
            PASSWORD_HASH_PROFILE="low",
            DEADLINE_SWEEP_S="0.5",
        )
        # The job queue and its files inside this server's instance folder: the default (the package's instance/)
        # would be one queue for every live server of a parallel test run.
        jobs = self.instance / "jobs"
        env.update(JOBS_DIR=str(jobs / "files"), JOBS_UPLOAD_DIR=str(jobs / "uploads"),
                   JOBS_QUEUE_DB=str(jobs / "queue.db"))
        env.update(self.extra_env)
        env.pop("SOCKETIO_ASYNC_MODE", None)
        log = open(self.log_path, "ab")  # noqa: SIM115  (kept open for the process's life)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exam_server.entry", "run", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        if self.with_worker and (self.worker is None or self.worker.poll() is not None):
            self.worker = subprocess.Popen([sys.executable, "-m", "exam_server.entry", "worker", "--workers", "1"],
                                           env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            # Ready when it answers, not when the port accepts: `examctl run` holds its port while the application
            # loads (exam_server/core/listening.py), queueing connections meanwhile.
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=deadline - time.monotonic()).close()
                return
            except urllib.error.HTTPError:  # answered (503: a check failed, which the test will see for itself)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        """Kill -9: no clean shutdown, as a crash or power loss would be."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.kill()  # its job processes end with it (PR_SET_PDEATHSIG)
            self.worker.wait(10)
        self.worker = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


def seed_file_database(tmp_path: Path, bank: Path, **seed_options: Any) -> tuple[str, Any]:
    """A SQLite file with a small sitting (tests/conftest.py's SMALL_PAPER), seeded in this process for a
    server process to serve; `seed_options` go to exam_server.demo.seed_exam."""
    from conftest import SMALL_PAPER, app_config

    from exam_server import create_app
    from exam_server.demo import seed_exam
    from exam_server.extensions import db
    from item_bank.db import Base, make_engine

    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(app_config(url))
    options: dict[str, Any] = {"sections": SMALL_PAPER, "n_candidates": 3, "hash_profile": "low",
                               "staff_password": "pw-staff"}
    options.update(seed_options)
    with app.app_context():
        seeded = seed_exam(db.session, bank_path=bank, **options)
        db.dispose()
    return url, seeded


@contextmanager
def live_server(database_url: str, instance: Path, *, worker: bool = False, **env: str) -> Iterator[LiveServer]:
    server = LiveServer(database_url, instance, worker=worker, **env).start()
    try:
        yield server
    finally:
        server.stop()


def require_chromium() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if not path:
        from conftest import need_service

        need_service(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return str(path)


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright (no browser download)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
