"""Fixtures for the job tests: an app whose jobs run at once (immediate), with its folders under the test's tmp_path."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jobs_handlers  # noqa: F401  (registers the test handlers)
import pytest
from flask import Flask
from jobs_support import build_app

from exam_server.extensions import db


@pytest.fixture
def jobs_config(tmp_path: Path) -> dict[str, Any]:
    """Where this test's jobs keep their queue and files."""
    return {
        "JOBS_DIR": str(tmp_path / "jobs" / "files"),
        "JOBS_UPLOAD_DIR": str(tmp_path / "jobs" / "uploads"),
        "JOBS_QUEUE_DB": str(tmp_path / "jobs" / "queue.db"),
        "JOBS_QUEUE_NAME": f"exam-jobs-test-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def jobs_app(database_url: str, tmp_path: Path, jobs_config: dict[str, Any]) -> Iterator[Flask]:
    """The app with JOBS_BACKEND=immediate: a submitted job has run when submit_job returns."""
    application = build_app(database_url, tmp_path, JOBS_BACKEND="immediate", **jobs_config)
    with application.app_context():
        yield application
    db.dispose()
