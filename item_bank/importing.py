"""Importing items: one operation for every format, all-or-nothing, with a dry run.

    report = import_items(session, Path("baoan_items.csv"), actor="user:wang", author_id=wang.id)

The format follows the file's extension (.csv, .xlsx, .json, .zip = QTI 2.1 content package).
A file with any bad row raises `BankImportError` listing every problem and stores nothing.

Imported versions wait for review (or stay drafts): never approved. The import's audit row is its batch
(`item_bank.batches`), which a second person, not the importer, approves as a whole or item by item.

How an import writes (issue 13): SQLite has one write lock for the whole database, and candidates' saves need
it every few milliseconds. A 15,000-row import stored in one transaction held it for 16-40 s, and every save of
that time waited it out. So an import now

1. reads and checks without writing (`plan_store`: validation, duplicate search, what is new and what changed),
   so the slow part holds no lock; a bad file is refused here, before anything is written;
2. writes in short transactions (CHUNK_ROWS new items each, measured at a few milliseconds on SQLite), pausing
   CHUNK_PAUSE_S between them so waiting saves get the lock; each chunk also inserts a `bank.import_chunk` audit
   row naming the rows it wrote, under the run's `bank.import_started` row (the marker);
3. ends with one transaction that writes what changes rows the bank already had (new versions of existing
   items, changed sets: rare and few), the batch row (`bank.import`, as before) and `bank.import_ended`.

If anything fails after the first write, the rows the chunk rows name are deleted again, in short transactions
(`undo_import`), and the run is closed as undone: the bank is as it was. A run the process never closed (killed
mid-way) is undone the same way by the next import or worker start (`undo_interrupted_imports`), once its last
chunk is older than STALE_AFTER_S. Audit rows are only ever inserted, so the marker, chunk and ended rows are
the import's journal; no table of its own is needed. While an import runs, its first chunks are visible as
new items in review (not in any form, not approvable as a batch: the batch row comes last).

Chosen over staging rows in a scratch table because it needs no schema change and each chunk is the same
insert the one-transaction import made. PostgreSQL takes the same path (its row locks never blocked saves, but
one path is one thing to test), in chunks of CHUNK_ROWS_ROW_LOCKS with no pause: many small commits only cost it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, delete, func, select, update
from sqlalchemy.orm import Session

from item_bank.archives import DEFAULT_LIMITS, ArchiveLimits
from item_bank.audit import AuditEvent, audit
from item_bank.db import begin_write, transaction, utcnow
from item_bank.exchange.csv_io import read_csv
from item_bank.exchange.excel import read_xlsx
from item_bank.exchange.json_io import read_json
from item_bank.exchange.qti import read_qti
from item_bank.exchange.records import BankImportError, ImportReport, ParsedFile, RowProblem
from item_bank.exchange.store import (
    IMPORT_STATUSES,
    ImportStatusRefused,
    StorePlan,
    plan_store,
    store_media,
    store_new_items,
    store_new_sets,
    store_updates,
)
from item_bank.models import IN_REVIEW, Item, ItemSet, ItemVersion, KnowledgeArea, MediaFile, ReviewComment
from item_bank.standard_tree import ensure_standard_tree
from item_bank.tree import THEORY

__all__ = [
    "FORMATS",
    "IMPORT_ACTION",
    "IMPORT_STATUSES",
    "BankImportError",
    "ImportReport",
    "ImportStatusRefused",
    "RowProblem",
    "import_items",
    "import_parsed",
    "read_file",
    "undo_interrupted_imports",
]

log = logging.getLogger(__name__)

# Images larger than this are refused (a candidate's workstation loads them over the test-site LAN).
MAX_MEDIA_BYTES = 2 * 1024 * 1024
# A file larger than this is refused before it is read: a CSV is held in memory as rows, and the web's
# upload cap does not bound the CLI.
MAX_FILE_BYTES = 64 * 1024 * 1024
ZIPPED = ("xlsx", "qti")
IMPORT_ACTION = "bank.import"  # the audit action of an import: its row is the import's batch
# The import's journal (see the module docstring): its first row, one row per chunk written, its last row.
STARTED_ACTION = "bank.import_started"
CHUNK_ACTION = "bank.import_chunk"
ENDED_ACTION = "bank.import_ended"
RUN_ENTITY = "import_run"
# New items per write transaction, and the pause before each. Measured on SQLite (15,000 rows, 2 shared cores):
# a chunk of 10 holds the write lock 3.7 ms (p50; p99 10 ms, most of it the commit's fsync), 25 hold 10 ms;
# a save arriving meanwhile waits at most that long.
CHUNK_ROWS = 10
CHUNK_PAUSE_S = 0.01
# Elsewhere (PostgreSQL) row locks never block a save, but each commit costs a WAL flush the saves' commits share:
# 1,500 small commits made a 15,000-row import take 63 s instead of 15 s and slowed saves (p99 17 ms -> 283 ms).
CHUNK_ROWS_ROW_LOCKS = 500
# A run with no journal row newer than this is taken for one whose process died; a live one writes a chunk
# every few milliseconds (the last transaction, new versions of existing items, may take longer).
STALE_AFTER_S = 600
FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json", ".zip": "qti"}
READERS = {"csv": read_csv, "xlsx": read_xlsx, "json": read_json, "qti": read_qti}


def read_file(
    path: Path,
    *,
    name: str | None = None,
    default_levels: list[int] | None = None,
    max_media_bytes: int = MAX_MEDIA_BYTES,
    archive_limits: ArchiveLimits = DEFAULT_LIMITS,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> ParsedFile:
    """Parse `path` by its extension into records and problems, without touching the database.

    Zipped formats (.xlsx, QTI .zip) are read within `archive_limits` (item_bank.archives).
    """
    levels = list(default_levels or [5])
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        return ParsedFile(
            name,
            "?",
            problems=[
                RowProblem(
                    name,
                    None,
                    "-",
                    f"不支持的文件类型 {suffix or '(无扩展名)'}：应为 .xlsx .csv .json 或 .zip (QTI)",
                )
            ],
        )
    if not path.is_file():
        return ParsedFile(name, FORMATS[suffix], problems=[RowProblem(name, None, "-", "文件不存在")])
    size = path.stat().st_size
    if size > max_file_bytes:
        return ParsedFile(
            name,
            FORMATS[suffix],
            problems=[
                RowProblem(
                    name,
                    None,
                    "-",
                    f"文件大小 {size / 1024 / 1024:.1f} MB 超过上限 {max_file_bytes / 1024 / 1024:.0f} MB，"
                    "请拆分后分批导入",
                )
            ],
        )
    fmt = FORMATS[suffix]
    if fmt in ZIPPED:
        return READERS[fmt](
            path, name=name, default_levels=levels, max_media_bytes=max_media_bytes, limits=archive_limits
        )
    return READERS[fmt](path, name=name, default_levels=levels, max_media_bytes=max_media_bytes)


def import_items(
    session: Session,
    path: Path | str,
    *,
    actor: str,
    status: str = IN_REVIEW,
    dry_run: bool = False,
    author_id: int | None = None,
    default_levels: list[int] | None = None,
    name: str | None = None,
    max_media_bytes: int = MAX_MEDIA_BYTES,
    archive_limits: ArchiveLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """Import every item of `path` as versions in `status` (in review, or draft), or nothing; commits unless
    `dry_run`. `author_id` is the importer's staff account: the version's author, who may not approve it.

    Raises BankImportError (every bad row with file, row, column, reason) and stores nothing when
    any row is bad. A dry run does all the work, reports it, then rolls it back.
    """
    path = Path(path)
    started = time.perf_counter()
    parsed = read_file(
        path,
        name=name,
        default_levels=default_levels,
        max_media_bytes=max_media_bytes,
        archive_limits=archive_limits,
    )
    return import_parsed(
        session,
        parsed,
        actor=actor,
        status=status,
        dry_run=dry_run,
        author_id=author_id,
        source=str(path),
        started=started,
    )


def import_parsed(
    session: Session,
    parsed: ParsedFile,
    *,
    actor: str,
    status: str = IN_REVIEW,
    dry_run: bool = False,
    author_id: int | None = None,
    source: str = "",
    started: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> ImportReport:
    """Store what `read_file` got out of a file, as `import_items` does (a background job reads the file before
    it takes the database's write lock, so candidates' saves never wait behind the parsing). `progress` is told
    the fraction of new items written after each chunk (between transactions)."""
    started = time.perf_counter() if started is None else started
    report = ImportReport(
        file=parsed.file, format=parsed.format, dry_run=dry_run, status=status, encoding=parsed.encoding
    )
    if status not in IMPORT_STATUSES:
        raise ImportStatusRefused(status)
    if dry_run:
        if not _has_standard_tree(session):
            begin_write(session)  # rare (an empty bank): the tree is created, checked against, rolled back
        with transaction(session, dry_run=True):
            report.areas_created = ensure_standard_tree(session, actor)
            plan_store(session, parsed, report, status=status, author_id=author_id)
        report.elapsed_s = time.perf_counter() - started
        return report
    undo_interrupted_imports(session)
    if not _has_standard_tree(session):
        begin_write(session)
        with transaction(session):
            report.areas_created = ensure_standard_tree(session, actor)
    with transaction(session):  # reads only: no write lock held while checking
        plan = plan_store(session, parsed, report, status=status, author_id=author_id)
    _write(
        session,
        parsed,
        plan,
        report,
        actor=actor,
        author_id=author_id,
        source=source,
        started=started,
        progress=progress,
    )
    report.elapsed_s = time.perf_counter() - started
    return report


def _has_standard_tree(session: Session) -> bool:
    with transaction(session):
        return bool(
            session.scalar(
                select(func.count())
                .select_from(KnowledgeArea)
                .where(KnowledgeArea.level == 5, KnowledgeArea.part == THEORY)
            )
        )


def _write(
    session: Session,
    parsed: ParsedFile,
    plan: StorePlan,
    report: ImportReport,
    *,
    actor: str,
    author_id: int | None,
    source: str,
    started: float,
    progress: Callable[[float], None] | None,
) -> None:
    """Steps 2 and 3 of the module docstring; undoes what it wrote if any step fails."""
    begin_write(session)
    with transaction(session):
        media = store_media(session, plan.media)
        sets = store_new_sets(session, parsed, plan.now)
        marker = audit(session, actor, STARTED_ACTION, "import", parsed.file[:60], None, {
            "file": parsed.file, "items": len(parsed.items), "media": media, "sets": sorted(sets.values()),
        })  # fmt: skip
        session.flush()
        run = marker.id
    sqlite = session.get_bind().dialect.name == "sqlite"
    size, pause = (CHUNK_ROWS, CHUNK_PAUSE_S) if sqlite else (CHUNK_ROWS_ROW_LOCKS, 0.0)
    try:
        rows = plan.new_rows
        for start in range(0, len(rows), size):
            time.sleep(pause)  # waiting saves take the lock between chunks
            begin_write(session)
            with transaction(session):
                item_ids, version_ids = store_new_items(session, plan, rows[start : start + size], actor,
                                                        parsed.file)  # fmt: skip
                _journal(session, actor, CHUNK_ACTION, run, {"items": item_ids, "versions": version_ids})
            report.version_ids.extend(version_ids)
            if progress is not None:
                progress(min(start + size, len(rows)) / max(len(rows), 1))
        begin_write(session)
        with transaction(session):
            store_updates(session, parsed, plan, report, actor)
            report.elapsed_s = time.perf_counter() - started
            row = audit(session, actor, IMPORT_ACTION, "import", parsed.file[:60], None, {
                "file": parsed.file,
                "format": parsed.format,
                "status": report.status,
                "items": report.items_read,
                "created": report.created,
                "new_versions": report.new_versions,
                "unchanged": report.unchanged,
                "duplicates": len(report.duplicates),
                "source": source,
                "author_id": author_id,
                "versions": report.version_ids,
            })  # fmt: skip
            session.flush()
            batch_id = row.id if report.version_ids else None
            _journal(session, actor, ENDED_ACTION, run, {"outcome": "done", "batch": row.id})
    except BaseException:
        session.rollback()
        log.warning("import of %s failed after writing: undoing run %s", parsed.file, run)
        undo_import(session, run, actor)
        raise
    report.batch_id = batch_id


def _journal(session: Session, actor: str, action: str, run: int, after: dict[str, Any]) -> None:
    audit(session, actor, action, RUN_ENTITY, str(run), None, after)


def undo_import(session: Session, run: int, actor: str = "system:import") -> None:
    """Delete every row import run `run` wrote (its chunk rows name them), in short transactions, and close the
    run as undone. The journal rows stay: the audit log keeps what was tried."""
    with transaction(session):
        marker = session.get(AuditEvent, run)
        first: dict[str, Any] = dict((marker.after or {}) if marker is not None else {})
        chunks = (
            session.execute(
                select(AuditEvent.after).where(
                    AuditEvent.action == CHUNK_ACTION, AuditEvent.entity_id == str(run)
                )
            )
            .scalars()
            .all()
        )
    for after in chunks:
        items = [int(i) for i in (after or {}).get("items", [])]
        versions = [int(v) for v in (after or {}).get("versions", [])]
        begin_write(session)
        with transaction(session):
            session.execute(
                update(Item).where(Item.id.in_(items)).values(current_version_id=None, head_version_id=None)
            )
            session.execute(delete(ReviewComment).where(ReviewComment.item_version_id.in_(versions)))
            session.execute(delete(ItemVersion).where(ItemVersion.id.in_(versions)))
            session.execute(delete(Item).where(Item.id.in_(items)))
        time.sleep(CHUNK_PAUSE_S)
    begin_write(session)
    with transaction(session):
        sets = [int(i) for i in first.get("sets", [])]
        if sets:
            session.execute(delete(ItemSet).where(ItemSet.id.in_(sets)))
        media = [str(h) for h in first.get("media", [])]
        for start in range(0, len(media), 500):
            session.execute(delete(MediaFile).where(MediaFile.sha256.in_(media[start : start + 500])))
        _journal(session, actor, ENDED_ACTION, run, {"outcome": "undone", "chunks": len(chunks)})


def undo_interrupted_imports(session: Session, stale_after_s: float = STALE_AFTER_S) -> list[int]:
    """Undo the import runs a dead process left open (no journal row for `stale_after_s`); returns their ids."""
    cutoff = utcnow() - dt.timedelta(seconds=stale_after_s)
    with transaction(session):
        ended = select(AuditEvent.entity_id).where(AuditEvent.action == ENDED_ACTION)
        open_runs = session.scalars(
            select(AuditEvent.id).where(
                AuditEvent.action == STARTED_ACTION, cast(AuditEvent.id, String(60)).not_in(ended)
            )
        ).all()
        stale = []
        for run in open_runs:
            last = session.scalar(
                select(func.max(AuditEvent.at)).where(
                    AuditEvent.action == CHUNK_ACTION, AuditEvent.entity_id == str(run)
                )
            ) or session.scalar(select(AuditEvent.at).where(AuditEvent.id == run))
            if last is not None and last < cutoff:
                stale.append(run)
    for run in stale:
        log.warning("import run %s was left unfinished by a stopped process: undoing it", run)
        undo_import(session, run)
    return stale
