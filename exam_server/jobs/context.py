"""What a running handler is given: the database session, its folder, who asked, progress and cancellation."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from exam_server.jobs import files
from exam_server.jobs.models import RUNNING, Job
from item_bank.db import begin_write

log = logging.getLogger(__name__)

# A handler may report progress for every row it reads; the page polls about once a second, so writing more
# often than this only adds writes that compete with candidates' saves.
PROGRESS_EVERY_S = 0.5
# On SQLite a progress write waits at most this long for the write lock (held by the exam server or another
# job), then is skipped: progress is advisory, answers are not.
SQLITE_PROGRESS_WAIT_MS = 200


class JobCancelled(Exception):
    """Raised by `JobContext.check_cancelled` once someone has asked to cancel the job; the worker rolls the
    handler's open transaction back and marks the job cancelled."""


class JobContext:
    """Given to a handler as its first argument.

    - `session`: the worker's SQLAlchemy session (an app context is active). Operations commit their own
      transactions; what is left uncommitted is committed when the handler returns, and rolled back if it
      raises. On SQLite keep transactions short and start each with its write (or commit after reading):
      the exam server writes all the time, and a write on an older snapshot fails at once.
    - `workdir`: the job's own, empty folder (JOBS_DIR/<id>/); `output(name)` names the downloadable result.
    - `actor`: who submitted the job (`user:wang`, `cli:ops`), for the audit rows the handler writes.
    - `progress(fraction, message)`, `cancelled()`, `check_cancelled()`.
    """

    def __init__(
        self,
        *,
        job_id: int,
        kind: str,
        actor: str,
        session: Session,
        engine: Engine,
        workdir: Path,
        upload_dir: Path,
        upload: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.kind = kind
        self.actor = actor
        self.session = session
        self.workdir = workdir
        self.result_file: str | None = None
        self._engine = engine
        self._upload_dir = upload_dir
        self._upload = upload
        self._last_write = 0.0
        # SQLite has one writer and snapshot reads: a progress row written from another connection while the
        # handler's transaction is open would wait for the handler's own write lock, or make the handler's next
        # write fail on a stale snapshot. There, progress reported inside a transaction is written when it ends.
        self._defer_in_transaction = engine.dialect.name == "sqlite"
        self._pending: tuple[float, str] | None = None
        if self._defer_in_transaction:
            event.listen(session, "after_commit", self._write_pending)
            event.listen(session, "after_rollback", self._write_pending)

    def close(self) -> None:
        """Stop listening to the session (the worker thread's next job gets a new context)."""
        if self._defer_in_transaction:
            event.remove(self.session, "after_commit", self._write_pending)
            event.remove(self.session, "after_rollback", self._write_pending)

    # ----- files

    def output(self, name: str) -> Path:
        """The path of the job's downloadable result file `name` (a bare file name) inside `workdir`."""
        self.result_file = files.plain_name(name)
        return self.workdir / self.result_file

    @property
    def upload(self) -> Path | None:
        """The uploaded file given as params["upload"], if any (deleted by the worker after the job)."""
        if self._upload is None:
            return None
        return files.upload_path(self._upload_dir, self._upload)

    def reads(self, folder: Path | str) -> Path:
        """Declare a folder the handler reads (media, a backup's source); refused if the job's folder lies
        inside it or contains it, so nothing the job writes can end up in what it reads."""
        path = Path(folder)
        files.ensure_apart(self.workdir, path)
        return path

    # ----- transactions

    def begin_write(self) -> None:
        """End the open transaction and start the next one as a writer (item_bank.db.begin_write), for work
        that reads and then writes what it read (scoring a sitting, storing assembled forms). On SQLite the write
        lock is then held from the first statement: what the work reads is the newest data, and its writes cannot
        fail on a snapshot another connection has moved past. Keep such a transaction short (candidates' saves
        wait for the lock); do long reading or solving before calling this. Elsewhere it only ends the open one."""
        self.session.commit()
        begin_write(self.session)

    # ----- progress and cancellation

    def progress(self, fraction: float, message: str = "") -> None:
        """Record how far the job got (0..1) and a Chinese sentence saying what it is doing, in its own short
        transaction so the page sees it while the handler's own work is still uncommitted (on SQLite: as soon
        as the handler's current transaction ends; commit long work in chunks)."""
        now = time.monotonic()
        fraction = min(max(float(fraction), 0.0), 1.0)
        if fraction < 1.0 and now - self._last_write < PROGRESS_EVERY_S:
            return
        self._last_write = now
        if self._defer_in_transaction and self.session.in_transaction():
            self._pending = (fraction, message)
            return
        self._write(fraction, message)

    def _write_pending(self, _session: Session) -> None:
        if self._pending is not None:
            fraction, message = self._pending
            self._pending = None
            self._write(fraction, message)

    def _write(self, fraction: float, message: str) -> None:
        self._write_briefly(
            update(Job)
            .where(Job.id == self.job_id, Job.status == RUNNING)
            .values(progress=fraction, progress_message=message[:500])
        )

    def cancelled(self) -> bool:
        """Whether someone has asked to cancel this job (read fresh from the database)."""
        with self._engine.connect() as connection:
            asked = connection.execute(select(Job.cancel_requested_at).where(Job.id == self.job_id)).scalar()
        return asked is not None

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job is to stop; call it between steps of long work."""
        if self.cancelled():
            raise JobCancelled(self.job_id)

    def _write_briefly(self, statement: Executable) -> bool:
        sqlite = self._engine.dialect.name == "sqlite"
        previous = 0
        with self._engine.connect() as connection:
            if sqlite:
                previous = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
                connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_PROGRESS_WAIT_MS}")
            try:
                connection.execute(statement)
                connection.commit()
                return True
            except OperationalError as exc:
                connection.rollback()
                if not sqlite:
                    raise
                log.debug("job %s: progress skipped, database busy (%s)", self.job_id, exc.orig)
                return False
            finally:
                if sqlite:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout={previous}")
                    connection.commit()
