"""Validate parsed records against the bank and store them all or none.

Validation collects every problem before anything is written; storing uses bulk inserts so the
public bank (1,696 items) loads in well under a second.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from item_bank.attributes import AttributeError_, cognitive_level, normalise_attributes
from item_bank.audit import AuditEvent, audit
from item_bank.db import utcnow
from item_bank.duplicates import DUPLICATE_THRESHOLD, DuplicateFinder, fingerprint
from item_bank.exchange.records import (
    BankImportError,
    DuplicateFlag,
    ImportReport,
    ItemRecord,
    MediaRecord,
    ParsedFile,
    RowProblem,
)
from item_bank.kernel.errors import DomainError
from item_bank.models import (
    APPROVED,
    DRAFT,
    IN_REVIEW,
    Item,
    ItemSet,
    ItemVersion,
    MediaFile,
    ReviewComment,
)
from item_bank.text import normalise_stem
from item_bank.tree import AreaIndex
from item_bank.types import ItemContent, item_type
from item_bank.versions import AUTHORED_FIELDS, next_version_no

# An import never stores approved versions: what a file brings waits for a second person (the two-person rule
# holds for imports as for the editor; a re-import once retired the reviewed version behind a reviewer's back).
IMPORT_STATUSES = (IN_REVIEW, DRAFT)
CHUNK = 500


class ImportStatusRefused(DomainError):
    """An import asked to store versions in a state other than draft or in review (approved needs a reviewer)."""

    default_code = "import_status_refused"
    default_status = 400

    def __init__(self, status: str) -> None:
        super().__init__(
            f"导入后的状态只能是“待审核”或“草稿”，不能是 {status!r}：导入的试题须由另一位审题人审核通过。",
            status_given=status,
        )


def _chunks(values: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def problem_order(order: dict[str, int]) -> Any:
    """Sort key: file-level problems first, then by row (or the item's place in the file), then column."""

    def key(p: RowProblem) -> tuple[int, str]:
        if p.row is None:
            return (-1, p.column)
        if isinstance(p.row, int):
            return (p.row, p.column)
        return (order.get(str(p.row), 10**9), p.column)

    return key


def media_ref(m: MediaRecord) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(m.data).hexdigest(), "name": m.name, "mime": m.mime, "size": len(m.data)}


def validate(session: Session, parsed: ParsedFile, report: ImportReport) -> list[RowProblem]:
    """Every problem with the parsed records (reader problems included); fills the records' area ids."""
    problems = list(parsed.problems)
    file = parsed.file

    def add(row: int | str, column: str, reason: str) -> None:
        problems.append(RowProblem(file, row, column, reason))

    seen: dict[str, int | str] = {}
    for record in parsed.items:
        if record.external_id in seen:
            first = seen[record.external_id]
            where = f"第 {first} 行" if isinstance(first, int) else f"第 {parsed.order.get(first, 0) + 1} 题"
            add(record.row, record.column("id"), f"试题编号 {record.external_id} 重复（{where}已使用）")
        else:
            seen[record.external_id] = record.row
    set_rows: dict[str, int | str] = {}
    for s in parsed.sets:
        if s.external_id in set_rows:
            add(
                s.row,
                s.column("id"),
                f"题组编号 {s.external_id} 重复（第 {set_rows[s.external_id]} 行已使用）",
            )
        else:
            set_rows[s.external_id] = s.row
        if not s.stimulus.strip():
            add(s.row, s.column("stem"), "题组的情景材料（题干）不能为空")

    wanted_sets = {r.set_id for r in parsed.items if r.set_id} - set(set_rows)
    known_sets = set()
    for chunk in _chunks(sorted(wanted_sets)):
        known_sets.update(session.scalars(select(ItemSet.external_id).where(ItemSet.external_id.in_(chunk))))
    children: dict[str, int] = defaultdict(int)

    areas = AreaIndex(session)
    for record in parsed.items:
        if record.set_id:
            if record.set_id not in set_rows and record.set_id not in known_sets:
                add(record.row, record.column("set_id"), f"题组 {record.set_id} 不存在（文件和题库中都没有）")
            children[record.set_id] += 1
        if record.area:
            area_id = areas.resolve(record.area, record.levels, record.part)
            if area_id is None:
                add(
                    record.row,
                    record.column("knowledge_area"),
                    f"知识点 {record.area!r} 不在 {'/'.join(map(str, record.levels)) or '-'} 级知识树中",
                )
            record.columns["_area_id"] = str(area_id or "")
        _check_attributes(session, record, add)
        try:
            kind = item_type(record.type)
        except KeyError as exc:
            add(record.row, record.column("type"), str(exc.args[0]))
            continue
        content = ItemContent(record.type, record.stem, record.content, record.key, record.points)
        for p in kind.validate(content):
            if record.draft_reason and p.field in ("rubric", "model_answer"):
                continue  # stored as a draft its author completes (the warning below says so)
            add(record.row, record.column(p.field), p.reason)
        if record.draft_reason:
            report.warnings.append(RowProblem(file, record.row, record.column("rubric"), record.draft_reason))
        for p in kind.import_warnings(content):
            report.warnings.append(RowProblem(file, record.row, record.column(p.field), p.reason))
    for set_id, row in set_rows.items():
        if children.get(set_id, 0) == 0:
            add(row, "id", f"题组 {set_id} 没有子题")
    return problems


def _check_attributes(session: Session, record: ItemRecord, add: Any) -> None:
    """Read the record's 认知层次 and attributes as the standard and the bank's definitions allow (each bad
    value is one problem naming its own column)."""
    try:
        record.cognitive_level = cognitive_level(record.cognitive_level)
    except AttributeError_ as exc:
        add(record.row, record.column("cognitive_level"), exc.message)
    clean: dict[str, Any] = {}
    for name, value in record.attributes.items():
        try:
            clean.update(normalise_attributes(session, {name: value}))
        except AttributeError_ as exc:
            add(record.row, record.column(f"attr:{name}"), exc.message)
    record.attributes = dict(sorted(clean.items()))


def _version_row(record: ItemRecord, status: str, author_id: int | None, now: Any) -> dict[str, Any]:
    area = record.columns.get("_area_id")
    return {
        "status": status,
        "type": record.type,
        "stem": record.stem,
        "content": record.content,
        "key": record.key,
        "points": record.points,
        "levels": record.levels,
        "part": record.part,
        "knowledge_area_id": int(area) if area else None,
        "set_position": record.set_position,
        "enemy_group": record.enemy_group,
        "difficulty": record.difficulty,
        "irt_a": record.irt_a,
        "irt_b": record.irt_b,
        "irt_c": record.irt_c,
        "media": [media_ref(m) for m in record.media],
        "source": record.source[:200],
        "cognitive_level": record.cognitive_level,
        "attributes": dict(record.attributes),
        "stem_norm": normalise_stem(record.stem),
        "author_id": author_id,
        "created_at": now,
    }


COMPARED = (*AUTHORED_FIELDS, "knowledge_area_id", "enemy_group", "media", "cognitive_level")


def _same(version: ItemVersion, row: dict[str, Any]) -> bool:
    return (
        all(getattr(version, f) == row[f] for f in COMPARED)
        and (version.attributes or {}) == row["attributes"]
        and float(version.points) == float(row["points"])
    )


def assign_enemy_groups(records: Iterable[ItemRecord]) -> int:
    """Give stem variants (same normalised stem, different items) one shared enemy group; returns groups made."""
    by_stem: dict[str, list[ItemRecord]] = defaultdict(list)
    for record in records:
        if record.set_id is None:
            by_stem[normalise_stem(record.stem)].append(record)
    made = 0
    for group in by_stem.values():
        if len(group) < 2:
            continue
        name = next((r.enemy_group for r in group if r.enemy_group), None) or f"V-{group[0].external_id}"
        for record in group:
            record.enemy_group = record.enemy_group or name
        made += 1
    return made


@dataclass
class StorePlan:
    """What an import will write, worked out from the file and the bank by reading only (`plan_store`).

    `new_rows`: items the bank does not have, each with its first version's row (`item_set_id` still unresolved
    where the set is new: `set_external_id`); `updates`: records of existing items whose content changed
    (their new versions are added, and unchanged ones skipped, by `store_updates` once the write lock is held).
    """

    now: Any
    media: list[MediaRecord] = field(default_factory=list)
    new_rows: list[tuple[ItemRecord, dict[str, Any]]] = field(default_factory=list)
    comments: dict[str, list[str]] = field(default_factory=dict)
    updates: list[tuple[ItemRecord, dict[str, Any]]] = field(default_factory=list)


def plan_store(
    session: Session,
    parsed: ParsedFile,
    report: ImportReport,
    *,
    status: str,
    author_id: int | None,
    duplicate_threshold: float = DUPLICATE_THRESHOLD,
) -> StorePlan:
    """Validate every record of `parsed` against the bank and work out what storing it writes, reading only:
    raises BankImportError listing every problem, and fills the report's figures (created, unchanged, new
    versions as the bank stands now, duplicates). The slow part of an import (validation, duplicate search)
    thus holds no write lock."""
    if status not in IMPORT_STATUSES:
        raise ImportStatusRefused(status)
    problems = validate(session, parsed, report)
    if problems:
        raise BankImportError(sorted(problems, key=problem_order(parsed.order)))
    plan = StorePlan(now=utcnow())
    report.items_read = len(parsed.items)

    # Set positions follow file order within each set.
    position: dict[str, int] = defaultdict(int)
    for record in parsed.items:
        if record.set_id:
            position[record.set_id] += 1
            record.set_position = position[record.set_id]
    report.enemy_groups = assign_enemy_groups(parsed.items)
    plan.media = [m for r in parsed.items for m in r.media] + [m for s in parsed.sets for m in s.media]
    report.sets_created = len(parsed.sets)

    existing: dict[str, Item] = {}
    ids = [r.external_id for r in parsed.items]
    for chunk in _chunks(ids):
        for item in session.scalars(select(Item).where(Item.external_id.in_(chunk))):
            existing[item.external_id] = item

    finder = DuplicateFinder(session, set(ids)) if parsed.items else None
    for record in parsed.items:
        row = _version_row(record, DRAFT if record.draft_reason else status, author_id, plan.now)
        notes = plan.comments.setdefault(record.external_id, [])
        if record.draft_reason:
            notes.append(record.draft_reason)
        if row["knowledge_area_id"] is None:
            report.unclassified += 1
        item = existing.get(record.external_id)
        if item is not None:
            if _unchanged(item, row):
                report.unchanged += 1
            else:
                plan.updates.append((record, row))
                report.new_versions += 1
            continue
        hit = (
            finder.best(fingerprint(record.stem, record.content, record.key), duplicate_threshold)
            if finder
            else None
        )
        if hit is not None:
            other, score, group = hit.external_id, hit.score, hit.enemy_group
            report.duplicates.append(DuplicateFlag(record.file, record.row, record.external_id, other, score))
            # A suspected duplicate can never share a paper with the item it resembles; the reviewer reads why.
            row["enemy_group"] = row["enemy_group"] or group or f"V-{other}"
            notes.append(
                f"导入时发现疑似重复：与 {other} 相似度 {score:.2f}（题干、选项与答案），请审核后决定保留或退回。"
            )
        plan.new_rows.append((record, row))
    report.created = len(plan.new_rows)
    return plan


def _unchanged(item: Item, row: dict[str, Any]) -> bool:
    # Unchanged if it matches what forms use (current) or what already waits for review (head): importing the
    # same file twice must not queue a second copy of the same version.
    heads = {item.current_version_id, item.head_version_id} - {None}
    return any(_same(v, row) for v in item.versions if v.id in heads)


def store_media(session: Session, media: list[MediaRecord]) -> list[str]:
    """Insert the images the bank does not hold yet; returns their hashes (what undoing the import deletes)."""
    by_hash = {hashlib.sha256(m.data).hexdigest(): m for m in media}
    have: set[str] = set()
    for chunk in _chunks(sorted(by_hash)):
        have.update(session.scalars(select(MediaFile.sha256).where(MediaFile.sha256.in_(chunk))))
    fresh = [
        {"sha256": h, "name": m.name, "mime": m.mime, "size": len(m.data), "data": m.data}
        for h, m in by_hash.items()
        if h not in have
    ]
    if fresh:
        session.execute(insert(MediaFile), fresh)
    return [row["sha256"] for row in fresh]


def store_new_sets(session: Session, parsed: ParsedFile, now: Any) -> dict[str, int]:
    """Insert the file's sets the bank does not have; returns {external id: id} of those created."""
    wanted = [s for s in parsed.sets]
    have: set[str] = set()
    for chunk in _chunks(sorted(s.external_id for s in wanted)):
        have.update(session.scalars(select(ItemSet.external_id).where(ItemSet.external_id.in_(chunk))))
    created: dict[str, int] = {}
    for s in wanted:
        if s.external_id in have:
            continue
        row = ItemSet(
            external_id=s.external_id,
            title=s.title,
            stimulus=s.stimulus,
            media=[media_ref(m) for m in s.media],
            created_at=now,
        )
        session.add(row)
        session.flush()
        created[s.external_id] = row.id
    return created


def set_ids_of(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(external_ids))):
        found.update(
            dict(
                session.execute(
                    select(ItemSet.external_id, ItemSet.id).where(ItemSet.external_id.in_(chunk))
                ).all()
            )
        )
    return found


def store_new_items(
    session: Session, plan: StorePlan, rows: list[tuple[ItemRecord, dict[str, Any]]], actor: str, file: str
) -> tuple[list[int], list[int]]:
    """Insert `rows` (a slice of `plan.new_rows`) as new items with their first versions; returns (item ids,
    version ids)."""
    set_ids = set_ids_of(session, [r.set_id for r, _ in rows if r.set_id])
    resolved = [(r, {**row, "item_set_id": set_ids.get(r.set_id) if r.set_id else None}) for r, row in rows]
    comments = [(r, text) for r, _ in rows for text in plan.comments.get(r.external_id, [])]
    return _bulk_create(session, resolved, actor, file, plan.now, comments)


def store_updates(
    session: Session, parsed: ParsedFile, plan: StorePlan, report: ImportReport, actor: str
) -> None:
    """The writes that change rows the bank already had, in the caller's (final) transaction: the file's sets
    the bank knew take its title and material, and existing items whose content changed get a new version
    (compared again here, with the write lock held, so what is counted is what was stored)."""
    for s in parsed.sets:
        existing = session.scalar(select(ItemSet).where(ItemSet.external_id == s.external_id))
        if existing is not None:
            existing.title, existing.stimulus, existing.media = (
                s.title,
                s.stimulus,
                [media_ref(m) for m in s.media],
            )
    if not plan.updates:
        return
    items: dict[str, Item] = {}
    for chunk in _chunks([r.external_id for r, _ in plan.updates]):
        for item in session.scalars(select(Item).where(Item.external_id.in_(chunk))):
            items[item.external_id] = item
    set_ids = set_ids_of(session, [r.set_id for r, _ in plan.updates if r.set_id])
    report.new_versions = 0
    for record, row in plan.updates:
        item = items[record.external_id]
        row = {**row, "item_set_id": set_ids.get(record.set_id) if record.set_id else None}
        if _unchanged(item, row):
            report.unchanged += 1
            continue
        version_id = _add_version(session, item, row, actor, record)
        report.version_ids.append(version_id)
        report.new_versions += 1
        for text in plan.comments.get(record.external_id, []):
            session.add(
                ReviewComment(item_version_id=version_id, author_id=None, text=text, created_at=plan.now)
            )


def _add_version(session: Session, item: Item, row: dict[str, Any], actor: str, record: ItemRecord) -> int:
    """A new version of an existing item, waiting for review; the approved version stays in effect (forms are
    built from it) until a reviewer approves this one, which then retires it."""
    number = next_version_no(session, item.id)
    version = ItemVersion(item_id=item.id, version_no=number, **row)
    session.add(version)
    session.flush()
    item.head_version_id = version.id
    if item.current_version is None or item.current_version.status != APPROVED:
        item.current_version_id = version.id
    audit(
        session,
        actor,
        "item.import_version",
        "item_version",
        version.id,
        None,
        {
            "external_id": item.external_id,
            "version_no": number,
            "status": version.status,
            "file": record.file,
            "row": record.row,
        },
    )
    return version.id


def _bulk_create(
    session: Session,
    rows: list[tuple[ItemRecord, dict[str, Any]]],
    actor: str,
    file: str,
    now: Any,
    comments: list[tuple[ItemRecord, str]],
) -> tuple[list[int], list[int]]:
    """Insert the new items with their first versions; returns (item ids, version ids)."""
    if not rows:
        return [], []
    item_ids = list(
        session.scalars(
            insert(Item).returning(Item.id, sort_by_parameter_order=True),
            [{"external_id": r.external_id, "created_at": now} for r, _ in rows],
        )
    )
    version_ids = list(
        session.scalars(
            insert(ItemVersion).returning(ItemVersion.id, sort_by_parameter_order=True),
            [
                {**row, "item_id": item_id, "version_no": 1}
                for item_id, (_, row) in zip(item_ids, rows, strict=True)
            ],
        )
    )
    session.execute(
        update(Item),
        [
            {"id": i, "current_version_id": v, "head_version_id": v}
            for i, v in zip(item_ids, version_ids, strict=True)
        ],
    )
    by_ext = {r.external_id: v for (r, _), v in zip(rows, version_ids, strict=True)}
    session.execute(
        insert(AuditEvent),
        [
            {
                "at": now,
                "actor": actor,
                "action": "item.import",
                "entity": "item_version",
                "entity_id": str(v),
                "before": None,
                "after": {"external_id": r.external_id, "status": row["status"], "file": file, "row": r.row},
                "reason": "",
            }
            for (r, row), v in zip(rows, version_ids, strict=True)
        ],
    )
    if comments:
        session.execute(
            insert(ReviewComment),
            [
                {"item_version_id": by_ext[r.external_id], "author_id": None, "text": text, "created_at": now}
                for r, text in comments
            ],
        )
    return item_ids, version_ids
