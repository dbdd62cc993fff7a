"""What the in-process benchmarks share: a throwaway folder with a SQLite database of every table, and an app on it
that runs no background tasks (the figures are the measured work's alone) and, if asked, runs jobs in-process."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def new_database(path: Path) -> str:
    """A SQLite file at `path` holding every table; its URL."""
    import exam_server.models  # noqa: F401  (every table declared)
    from item_bank.db import Base, make_engine

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


def sqlite_app(name: str, *, database: str = "exam.db", profile: str = "low", jobs: bool = True,
               **config: Any) -> tuple[Flask, Path, str]:
    """An app on a new database `database` in a new folder (exam-`name`-…); the app, the folder and the URL.
    Heavy imports wait until here, so a benchmark's --help stays quick."""
    from exam_server import create_app

    folder = Path(tempfile.mkdtemp(prefix=f"exam-{name}-"))
    url = new_database(folder / database)
    settings: dict[str, Any] = {"DATABASE_URL": url, "SECRET_KEY": f"{name}-benchmark", "PASSWORD_HASH_PROFILE": profile,
                                "SOCKETIO_ASYNC_MODE": "threading", "RUN_BACKGROUND_TASKS": False,
                                "LOG_LEVEL": "WARNING"}
    if jobs:
        settings |= {"JOBS_BACKEND": "immediate", "JOBS_DIR": str(folder / "jobs"),
                     "JOBS_UPLOAD_DIR": str(folder / "uploads"), "JOBS_QUEUE_DB": str(folder / "queue.db")}
    return create_app(settings | config), folder, url
