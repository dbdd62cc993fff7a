"""What every exchange format reads into and writes from: plain item and set records, and the
problems and report of an import.

A reader turns a file into `ItemRecord`s (and `SetRecord`s) plus `RowProblem`s for what it could not
parse; `item_bank.exchange.store` validates the records and stores them all or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from item_bank.kernel.errors import DomainError


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with an imported file: where (file, spreadsheet row or item id, column) and why."""

    file: str
    row: int | str | None
    column: str
    reason: str

    def __str__(self) -> str:
        row = "" if self.row is None else self.row
        return f"{self.file}:{row}:{self.column}: {self.reason}"


class BankImportError(DomainError):
    """An import refused as a whole; `problems` lists every bad row. Nothing was stored."""

    default_code = "import_refused"
    default_status = 422

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = list(problems)
        head = "; ".join(str(p) for p in self.problems[:3])
        more = f" (共 {len(self.problems)} 处问题)" if len(self.problems) > 3 else ""
        super().__init__(f"导入失败，未保存任何试题: {head}{more}")


def original_media_name(filename: str, data: bytes) -> str:
    """The image's own name: exports prefix file names with the content hash to keep them apart."""
    import hashlib

    prefix, sep, rest = filename.partition("_")
    if sep and rest and prefix == hashlib.sha256(data).hexdigest()[: len(prefix)] and len(prefix) == 12:
        return rest
    return filename


@dataclass
class MediaRecord:
    """An image that arrives with an item: its name and bytes (readers load them, the store keeps them)."""

    name: str
    data: bytes
    mime: str = ""


@dataclass
class FileRecord:
    """What items and sets read from a file share: where they stand, their images, the file's headers."""

    file: str
    row: int | str
    external_id: str
    # Keyword-only so each subclass's own fields follow `external_id` positionally.
    media: list[MediaRecord] = field(default_factory=list, kw_only=True)
    columns: dict[str, str] = field(default_factory=dict, kw_only=True)

    def column(self, name: str) -> str:
        """The header the file used for field `name` (problems name the file's own column)."""
        return self.columns.get(name, name)


@dataclass
class ItemRecord(FileRecord):
    """One item as a file describes it, before validation; `columns` maps fields to the file's headers."""

    type: str
    stem: str
    content: dict[str, Any] = field(default_factory=dict)
    key: Any = None
    points: float = 1.0
    levels: list[int] = field(default_factory=list)
    part: str = "theory"
    # An area code or name as the file gives it; None / "" = unclassified.
    area: str | None = None
    source: str = ""
    enemy_group: str | None = None
    set_id: str | None = None
    set_position: int = 0
    difficulty: float | None = None
    irt_a: float | None = None
    irt_b: float | None = None
    irt_c: float | None = None
    # 认知层次 and the bank's named attributes (names or labels -> values; the store checks them).
    cognitive_level: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    # What exports add for people and other systems; imports never read them back into a version.
    status: str = ""
    version_no: int | None = None
    author: str = ""
    reviewer: str = ""
    exposure_count: int | None = None
    # Stored as a draft whatever the import's status, with this reason for the author (a foreign item
    # that lacks what the bank needs, e.g. an essay without a rubric).
    draft_reason: str = ""


@dataclass
class SetRecord(FileRecord):
    """An item set (情景 / 案例) as a file describes it: the stimulus shared by its child items."""

    title: str = ""
    stimulus: str = ""


@dataclass
class ParsedFile:
    """What a reader got out of a file."""

    file: str
    format: str
    items: list[ItemRecord] = field(default_factory=list)
    sets: list[SetRecord] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    encoding: str = ""
    # Where an item named by id (not by row number) sits in the file, for ordering problems.
    order: dict[str, int] = field(default_factory=dict)


@dataclass
class DuplicateFlag:
    """An imported item that looks like one already in the bank (or earlier in the same file)."""

    file: str
    row: int | str
    external_id: str
    similar_to: str
    score: float

    def __str__(self) -> str:
        return f"{self.file}:{self.row}: {self.external_id} 疑似与 {self.similar_to} 重复 (相似度 {self.score:.2f})"


@dataclass
class ImportReport:
    """The outcome of an import (or of its dry run: the same figures, nothing stored)."""

    file: str
    format: str
    dry_run: bool
    status: str
    encoding: str = ""
    items_read: int = 0
    created: int = 0
    new_versions: int = 0
    unchanged: int = 0
    sets_created: int = 0
    unclassified: int = 0
    enemy_groups: int = 0
    areas_created: int = 0
    media_stored: int = 0
    duplicates: list[DuplicateFlag] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    elapsed_s: float = 0.0
    # The versions the import created (new items and new versions), and the batch a reviewer approves them as
    # (the import's audit row; None for a dry run or when nothing changed).
    version_ids: list[int] = field(default_factory=list)
    batch_id: int | None = None

    @property
    def items_per_s(self) -> float:
        return self.items_read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        """One Chinese line for the screen and the command line."""
        verb = "预检（未保存）" if self.dry_run else "已导入"
        return (
            f"{verb} {self.file}: 读取 {self.items_read} 题，新建 {self.created} 题，新版本 {self.new_versions}，"
            f"未变 {self.unchanged}，题组 {self.sets_created}，未分类 {self.unclassified}，"
            f"互斥组 {self.enemy_groups}，疑似重复 {len(self.duplicates)}，"
            f"用时 {self.elapsed_s:.2f} 秒（{self.items_per_s:.0f} 题/秒）"
            + (f"；导入批次 {self.batch_id}，{len(self.version_ids)} 个版本待审核" if self.batch_id else "")
        )
