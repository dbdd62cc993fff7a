"""The serving port is taken before the application loads, and new connections are taken a few per loop turn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_support import free_port

from exam_server.core import listening
from exam_server.core.listening import early_listener, gevent_server, take_port_early

ROOT = Path(__file__).resolve().parents[2]


def test_the_port_of_a_run_command_line_is_taken_and_handed_over_once() -> None:
    port = free_port()
    listener = take_port_early(["run", "--host", "127.0.0.1", f"--port={port}"])
    assert listener is not None
    try:
        # Nothing accepts yet, but the kernel queues the connection instead of refusing it.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        assert early_listener("127.0.0.1", port) is listener
        assert early_listener("127.0.0.1", port) is None
    finally:
        listener.close()


def test_a_port_that_cannot_be_taken_is_left_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert take_port_early(["run", "--port", str(port)]) is None
    assert take_port_early(["run", "--port", "abc"]) is None
    assert listening._taken == {}


def test_the_server_takes_a_few_connections_per_turn_on_the_early_port() -> None:
    from flask import Flask

    app = Flask(__name__)
    port = free_port()
    listener = take_port_early(["run", "--port", str(port)])
    assert listener is not None
    try:
        server = gevent_server(app, "127.0.0.1", port, 4)
        assert server.socket is listener
        assert server.max_accept == 4
    finally:
        listener.close()
    # Without an early port there is nothing to serve on: the caller serves as Flask-SocketIO does.
    assert gevent_server(app, "127.0.0.1", free_port(), 4) is None


def test_a_browser_connecting_while_the_server_loads_is_answered_not_refused(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "server.log"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'exam.db'}", SECRET_KEY="listening-test",
               PYTHONUNBUFFERED="1", JOBS_DIR=str(tmp_path / "jobs"), JOBS_UPLOAD_DIR=str(tmp_path / "uploads"),
               JOBS_QUEUE_DB=str(tmp_path / "queue.db"), RUN_BACKGROUND_TASKS="0")
    env.pop("SOCKETIO_ASYNC_MODE", None)
    subprocess.run([sys.executable, "-m", "exam_server.entry", "init-db"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "exam_server.entry", "run", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "the port was never taken"
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=0.2)
                break
            except OSError:
                time.sleep(0.01)
        with conn:
            # The banner is printed once the application has loaded, just before serving: the connection was
            # accepted (queued by the kernel) while the application was still loading.
            assert "运行于" not in log_path.read_text(errors="replace")
            conn.settimeout(60)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert "运行于" in log_path.read_text(errors="replace")
    finally:
        proc.terminate()
        proc.wait(20)
