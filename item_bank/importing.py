"""Importing items: one operation for every format, all-or-nothing, with a dry run.

    report = import_items(session, Path("baoan_items.csv"), actor="user:wang", author_id=wang.id)

The format follows the file's extension (.csv, .xlsx, .json, .zip = QTI 2.1 content package).
A file with any bad row raises `BankImportError` listing every problem and stores nothing.

Imported versions wait for review (or stay drafts): never approved. The import's audit row is its batch
(`item_bank.batches`), which a second person, not the importer, approves as a whole or item by item.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.orm import Session

from item_bank.archives import DEFAULT_LIMITS, ArchiveLimits
from item_bank.audit import audit
from item_bank.db import transaction
from item_bank.exchange.csv_io import read_csv
from item_bank.exchange.excel import read_xlsx
from item_bank.exchange.json_io import read_json
from item_bank.exchange.qti import read_qti
from item_bank.exchange.records import BankImportError, ImportReport, ParsedFile, RowProblem
from item_bank.exchange.store import IMPORT_STATUSES, ImportStatusRefused, store
from item_bank.models import IN_REVIEW

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
]

# Images larger than this are refused (a candidate's workstation loads them over the test-site LAN).
MAX_MEDIA_BYTES = 2 * 1024 * 1024
# A file larger than this is refused before it is read: a CSV is held in memory as rows, and the web's
# upload cap does not bound the CLI.
MAX_FILE_BYTES = 64 * 1024 * 1024
ZIPPED = ("xlsx", "qti")
IMPORT_ACTION = "bank.import"  # the audit action of an import: its row is the import's batch
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
        session, parsed, actor=actor, status=status, dry_run=dry_run, author_id=author_id, source=str(path),
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
) -> ImportReport:
    """Store what `read_file` got out of a file, as `import_items` does (a background job reads the file before
    it takes the database's write lock, so candidates' saves never wait behind the parsing)."""
    started = time.perf_counter() if started is None else started
    report = ImportReport(
        file=parsed.file, format=parsed.format, dry_run=dry_run, status=status, encoding=parsed.encoding
    )
    with transaction(session, dry_run=dry_run):
        store(session, parsed, report, actor=actor, status=status, author_id=author_id)
        report.elapsed_s = time.perf_counter() - started
        row = audit(
            session,
            actor,
            IMPORT_ACTION,
            "import",
            parsed.file[:60],
            None,
            {
                "file": parsed.file,
                "format": parsed.format,
                "status": status,
                "items": report.items_read,
                "created": report.created,
                "new_versions": report.new_versions,
                "unchanged": report.unchanged,
                "duplicates": len(report.duplicates),
                "source": source,
                "author_id": author_id,
                "versions": report.version_ids,
            },
        )
        session.flush()
        batch_id = row.id if report.version_ids else None
    if not dry_run:
        report.batch_id = batch_id
    report.elapsed_s = time.perf_counter() - started
    return report
