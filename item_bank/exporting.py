"""Exporting items: the bank's current versions to .xlsx, .csv, .json or a QTI 2.1 .zip package.

    export_items(session, Path("bank.xlsx"))                      # every live item
    export_items(session, Path("bank.zip"), version_ids=[...])     # a selection, as QTI

What an export writes, the matching import reads back as the same items.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.attributes import COGNITIVE_LEVELS, ENUM, definitions
from item_bank.db import transaction
from item_bank.exchange.csv_io import write_csv
from item_bank.exchange.excel import write_xlsx
from item_bank.exchange.flat import EXPORT_COLUMNS, OPTION_LETTERS, TYPE_LABELS
from item_bank.exchange.json_io import write_json
from item_bank.exchange.qti import write_qti
from item_bank.exchange.records import ItemRecord, MediaRecord, SetRecord
from item_bank.kernel.actors import system_actor
from item_bank.kernel.errors import DomainError
from item_bank.models import RETIRED, Item, ItemSet, ItemVersion, KnowledgeArea, MediaFile
from item_bank.standard_tree import ensure_standard_tree
from item_bank.tree import PART_LABELS
from item_bank.types import ItemSetType, item_type
from item_bank.versions import authored

# A version's status as an office reads it.
STATUS_LABELS = {"draft": "草稿", "in_review": "待审核", "approved": "已通过", "retired": "已停用"}
FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json", ".zip": "qti"}


class ExportError(DomainError):
    """An export that cannot be written (unknown format, nothing to export)."""

    default_code = "export_refused"
    default_status = 400


@dataclass
class ExportReport:
    file: str
    format: str
    items: int
    sets: int
    media: int
    elapsed_s: float

    def summary(self) -> str:
        return (
            f"已导出 {self.items} 道试题、{self.sets} 个题组、{self.media} 张图片到 {self.file}"
            f"（{self.format}，用时 {self.elapsed_s:.2f} 秒）"
        )


def area_label(area: KnowledgeArea | None) -> str:
    """How exports name an area: "code name" (imports match the code, people read the name)."""
    return f"{area.code} {area.name}" if area is not None else ""


def _media(session: Session, refs: list[dict], cache: dict[str, MediaRecord]) -> list[MediaRecord]:
    out = []
    missing = [r["sha256"] for r in refs if r.get("sha256") and r["sha256"] not in cache]
    if missing:
        for m in session.scalars(select(MediaFile).where(MediaFile.sha256.in_(missing))):
            cache[m.sha256] = MediaRecord(name=m.name, data=m.data, mime=m.mime)
    for r in refs:
        if r.get("sha256") in cache:
            rec = cache[r["sha256"]]
            out.append(MediaRecord(name=r.get("name") or rec.name, data=rec.data, mime=rec.mime))
    return out


def collect(
    session: Session,
    *,
    version_ids: list[int] | None = None,
    include_retired: bool = False,
    people: Mapping[int, str] | None = None,
) -> tuple[list[ItemRecord], list[SetRecord]]:
    """The records to export: the given versions, else every item's current version (retired ones
    only if asked); item sets come whole, in set order. `people` names authors and reviewers by user id
    (the bank knows ids only)."""
    people = people or {}

    def person(user_id: int | None) -> str:
        return "" if user_id is None else people.get(user_id, f"#{user_id}")

    query = select(Item.external_id, ItemVersion).join(ItemVersion, ItemVersion.item_id == Item.id)
    if version_ids is not None:
        query = query.where(ItemVersion.id.in_(version_ids))
    else:
        query = query.where(ItemVersion.id == Item.current_version_id)
        if not include_retired:
            query = query.where(ItemVersion.status != RETIRED)
    rows = session.execute(query.order_by(Item.id)).all()
    areas = {a.id: a for a in session.scalars(select(KnowledgeArea))}
    set_ids = {v.item_set_id for _, v in rows if v.item_set_id}
    sets = (
        {s.id: s for s in session.scalars(select(ItemSet).where(ItemSet.id.in_(set_ids)))} if set_ids else {}
    )
    cache: dict[str, MediaRecord] = {}
    items: list[ItemRecord] = []
    for external_id, v in rows:
        area = areas.get(v.knowledge_area_id) if v.knowledge_area_id else None
        while area is not None and area.merged_into_id:
            area = areas.get(area.merged_into_id)
        items.append(
            ItemRecord(
                file="",
                row=external_id,
                external_id=external_id,
                **authored(v),
                area=area_label(area) or None,
                source=v.source,
                enemy_group=v.enemy_group,
                set_id=sets[v.item_set_id].external_id if v.item_set_id in sets else None,
                set_position=v.set_position,
                difficulty=v.difficulty,
                irt_a=v.irt_a,
                irt_b=v.irt_b,
                irt_c=v.irt_c,
                media=_media(session, list(v.media or []), cache),
                cognitive_level=v.cognitive_level,
                attributes=dict(v.attributes or {}),
                status=v.status,
                version_no=v.version_no,
                author=person(v.author_id),
                reviewer=person(v.reviewer_id),
                exposure_count=v.exposure_count,
            )
        )
    set_records = [
        SetRecord(
            file="",
            row=s.external_id,
            external_id=s.external_id,
            title=s.title,
            stimulus=s.stimulus,
            media=_media(session, list(s.media or []), cache),
        )
        for s in sorted(sets.values(), key=lambda s: s.id)
    ]
    return _set_order(items), set_records


def _set_order(items: list[ItemRecord]) -> list[ItemRecord]:
    """Items in bank order, with each set's children together, in set position order, at the first child's place."""
    children: dict[str, list[ItemRecord]] = {}
    for r in items:
        if r.set_id:
            children.setdefault(r.set_id, []).append(r)
    out: list[ItemRecord] = []
    done: set[str] = set()
    for r in items:
        if not r.set_id:
            out.append(r)
        elif r.set_id not in done:
            done.add(r.set_id)
            out.extend(sorted(children[r.set_id], key=lambda c: c.set_position))
    return out


def media_filename(m: MediaRecord) -> str:
    return f"{hashlib.sha256(m.data).hexdigest()[:12]}_{Path(m.name).name}"


def flat_rows(
    items: list[ItemRecord], sets: list[SetRecord], media_dir: str | None
) -> tuple[list[dict[str, str]], dict[str, MediaRecord]]:
    """One dict per table row (a set's row first, then its children), and the image files to write."""
    files: dict[str, MediaRecord] = {}

    def media_cell(media: list[MediaRecord]) -> str:
        names = []
        for m in media:
            rel = f"{media_dir}/{media_filename(m)}" if media_dir else media_filename(m)
            files[rel] = m
            names.append(rel)
        return "；".join(names)

    by_set = {s.external_id: s for s in sets}
    rows: list[dict[str, str]] = []
    emitted: set[str] = set()
    for r in items:
        if r.set_id and r.set_id not in emitted and r.set_id in by_set:
            emitted.add(r.set_id)
            s = by_set[r.set_id]
            rows.append(
                {
                    "id": s.external_id,
                    "type": ItemSetType().column_label,
                    "stem": s.stimulus,
                    "explanation": s.title,
                    "media": media_cell(s.media),
                }
            )
        row = {
            "id": r.external_id,
            "type": TYPE_LABELS.get(r.type, r.type),
            "set_id": r.set_id or "",
            "stem": r.stem,
            "points": f"{r.points:g}",
            "level": ",".join(str(lv) for lv in r.levels),
            "part": PART_LABELS.get(r.part, r.part),
            "knowledge_area": r.area or "",
            "difficulty": "" if r.difficulty is None else f"{r.difficulty:g}",
            "enemy_group": r.enemy_group or "",
            "explanation": str(r.content.get("explanation") or ""),
            "media": media_cell(r.media),
            "source": r.source,
            "cognitive_level": r.cognitive_level or "",
            "irt_a": _figure(r.irt_a),
            "irt_b": _figure(r.irt_b),
            "irt_c": _figure(r.irt_c),
            "status": STATUS_LABELS.get(r.status, r.status),
            "version": "" if r.version_no is None else str(r.version_no),
            "author": r.author,
            "reviewer": r.reviewer,
            "exposure": "" if r.exposure_count is None else str(r.exposure_count),
        }
        for name, value in r.attributes.items():
            row[f"attr:{name}"] = f"{value:g}" if isinstance(value, float) else str(value)
        options = r.content.get("options") or []
        for letter, text in zip(OPTION_LETTERS, options, strict=False):
            row[f"option_{letter}"] = str(text)
        row.update(item_type(r.type).write_row(r.content, r.key))
        rows.append(row)
    return rows, files


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def flat_columns(session: Session, items: list[ItemRecord] | None = None) -> list[tuple[str, str]]:
    """The template's columns plus one "属性:名称" column per attribute the bank defines (and any an
    exported item carries that is no longer defined)."""
    specs = definitions(session)
    names = [s.name for s in specs]
    titles = {s.name: s.title for s in specs}
    for r in items or []:
        names.extend(n for n in r.attributes if n not in titles and n not in names)
    return [*EXPORT_COLUMNS, *((f"attr:{n}", f"属性:{titles.get(n, n)}") for n in names)]


def flat_choices(session: Session) -> dict[str, list[str]]:
    """Drop-down lists of the flat table: 认知层次 and every enumerated attribute."""
    lists = {"cognitive_level": list(COGNITIVE_LEVELS)}
    for spec in definitions(session):
        if spec.kind == ENUM:
            lists[f"attr:{spec.name}"] = list(spec.values)
    return lists


def write_media(base: Path, files: dict[str, MediaRecord]) -> None:
    for rel, m in files.items():
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(m.data)


def area_choices_of(session: Session) -> list[str]:
    """Every live area as "code name", for the template's drop-down list."""
    return [
        area_label(a)
        for a in session.scalars(
            select(KnowledgeArea)
            .where(KnowledgeArea.merged_into_id.is_(None))
            .order_by(KnowledgeArea.level, KnowledgeArea.part, KnowledgeArea.code)
        )
    ]


def write_template(session: Session, path: Path | str) -> None:
    """A blank Excel import template: instructions sheet, headers, validation, the bank's areas.

    A bank without a knowledge tree gets the shipped one first (committed), so the template lists its areas;
    `write_blank_template` writes what the bank has and never writes to it.
    """
    with transaction(session):
        ensure_standard_tree(session, system_actor("template"))
    write_blank_template(session, path)


def write_blank_template(session: Session, path: Path | str) -> None:
    """The Excel import template listing the areas the bank has now (reads only)."""
    write_xlsx(
        Path(path), [], area_choices_of(session), columns=flat_columns(session), choices=flat_choices(session)
    )


def export_items(
    session: Session,
    path: Path | str,
    *,
    version_ids: list[int] | None = None,
    include_retired: bool = False,
    area_choices: list[str] | None = None,
    people: Mapping[int, str] | None = None,
) -> ExportReport:
    """Write the chosen versions (default: every live item's current version) to `path` by extension."""
    started = time.perf_counter()
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(
            f"不支持的导出格式 {path.suffix or '(无扩展名)'}：应为 .xlsx .csv .json 或 .zip (QTI)"
        )
    items, sets = collect(session, version_ids=version_ids, include_retired=include_retired, people=people)
    media_count = len(
        {media_filename(m) for r in items for m in r.media}
        | {media_filename(m) for s in sets for m in s.media}
    )
    if fmt in ("csv", "xlsx"):
        media_dir = f"{path.stem}_图片"
        rows, files = flat_rows(items, sets, media_dir)
        columns = flat_columns(session, items)
        if fmt == "csv":
            write_csv(path, rows, columns=columns)
        else:
            write_xlsx(
                path,
                rows,
                area_choices if area_choices is not None else area_choices_of(session),
                columns=columns,
                choices=flat_choices(session),
            )
        write_media(path.parent, files)
    elif fmt == "json":
        write_json(path, items, sets)
    else:
        write_qti(path, items, sets)
    return ExportReport(path.name, fmt, len(items), len(sets), media_count, time.perf_counter() - started)
