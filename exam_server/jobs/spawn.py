"""A job worker started beside a server by the command that serves (`examctl demo`), so a single command gives a
working site: submissions are scored, imports and exports run. A centre runs `examctl worker` as its own service.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from flask import Flask

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent ends, however it ends (SIGKILL included): a
    worker or a job process left behind would go on taking jobs unseen. Linux only; elsewhere a no-op."""
    # The process's own symbols (libc's among them), not ctypes.util.find_library: that runs a subprocess, and
    # this runs in the child between fork and exec (Popen's preexec_fn), where starting one under gevent could hang
    # for good (the demo then never got past starting its worker: CI, issue 17).
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)


def worker_environment(app: Flask) -> dict[str, str]:
    """The environment of a worker that sees what `app` sees: its database and its JOBS_* settings."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in app.config.items() if k.startswith("JOBS_") and v is not None})
    env["DATABASE_URL"] = str(app.config["DATABASE_URL"])
    env.pop("SOCKETIO_ASYNC_MODE", None)  # the worker chooses its own (threading)
    return env


@contextmanager
def worker_beside(app: Flask, workers: int = 2) -> Iterator[subprocess.Popen[bytes] | None]:
    """`examctl worker` as a child process for as long as the block runs (none when jobs run where they are
    submitted, JOBS_BACKEND=immediate)."""
    if app.config.get("JOBS_BACKEND") == "immediate":
        yield None
        return
    process = subprocess.Popen(
        [sys.executable, "-m", "exam_server.entry", "worker", "--workers", str(workers)],
        env=worker_environment(app), preexec_fn=die_with_parent,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
