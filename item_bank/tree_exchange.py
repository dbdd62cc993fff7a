"""Knowledge trees in and out of the bank as whole files (Excel or JSON), instead of one area per web form.

A file holds one or more trees (a level and a part each); every row is an area: its code, name, kind, the
code of its parent (blank = a root) and optionally its share of the weight table (比重, in percent). Import
is all or nothing: every problem is listed with its row, nothing is written when there is one. An area whose
code already exists at that level and part is updated (name, kind, parent), a new one is created; areas the
file does not name are left as they are (a tree is never pruned by an import: items point at its areas).

    export_tree(session, Path("tree.xlsx"))                 # every tree of the bank
    import_tree(session, Path("tree.json"), actor="cli:x")  # the caller commits
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.archives import DEFAULT_LIMITS, NOT_A_WORKBOOK, NOT_A_ZIP, ArchiveError, open_workbook
from item_bank.audit import audit
from item_bank.exchange.records import RowProblem
from item_bank.kernel.errors import DomainError
from item_bank.models import KnowledgeArea
from item_bank.tree import KINDS, PART_LABELS, set_weight_table, weight_table

FORMAT_NAME = "baoan-knowledge-tree"
FORMAT_VERSION = 1
SHEET = "知识树"
HELP_SHEET = "填写说明"
MAX_FILE_BYTES = 8 * 1024 * 1024
# The example trees shipped for the levels and parts other than level-5 theory (see the file's "note").
STANDARD_TREES = Path(__file__).parent / "data" / "standard_trees.json"
COLUMNS = (
    ("level", "等级"),
    ("part", "科目"),
    ("code", "代码"),
    ("name", "名称"),
    ("kind", "类别"),
    ("parent", "上级代码"),
    ("weight", "比重(%)"),
)
HEADERS = {
    "level": ("等级", "level"),
    "part": ("科目", "part"),
    "code": ("代码", "code", "编码"),
    "name": ("名称", "name", "知识点"),
    "kind": ("类别", "kind"),
    "parent": ("上级代码", "parent", "上级"),
    "weight": ("比重(%)", "比重", "weight", "share"),
}
PARTS = {
    **{k: k for k in PART_LABELS},
    **{v: k for k, v in PART_LABELS.items()},
    "技能": "skill",
    "理论": "theory",
}
INSTRUCTIONS = (
    ("等级", "1-5（五级/初级工为 5）；留空表示各等级共用的标签。"),
    ("科目", "理论知识 或 操作技能（也可写 theory / skill）。"),
    ("代码", "同一等级和科目内唯一，如 2.1.3；已有的代码更新名称、类别和上级，新的代码新建。"),
    ("名称", "知识点（鉴定要素）名称。"),
    ("类别", "、".join(KINDS) + "；留空为 知识点。"),
    ("上级代码", "上级知识点的代码（在本文件或题库中）；留空为根节点。"),
    (
        "比重(%)",
        "可选：该知识点在试卷分值中所占百分比；写了比重的等级和科目，其比重表整体替换为文件中的比重。",
    ),
    (
        "导入规则",
        "整个文件要么全部导入，要么一行都不导入：有错误时列出每个错误的行号、列名和原因。文件中没有的知识点保持不变。",
    ),
)


class TreeImportError(DomainError):
    """A tree file refused as a whole; `problems` names every bad row. Nothing was written."""

    default_code = "tree_import_refused"
    default_status = 422

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = list(problems)
        head = "；".join(str(p) for p in self.problems[:3])
        more = f"（共 {len(self.problems)} 处问题）" if len(self.problems) > 3 else ""
        super().__init__(f"知识树导入失败，未保存任何知识点：{head}{more}")


@dataclass
class AreaLine:
    """One area as a file gives it."""

    row: int | str
    level: int | None
    part: str
    code: str
    name: str
    kind: str
    parent: str
    weight: float | None = None


@dataclass
class TreeReport:
    file: str
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    weight_tables: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "预检（未保存）" if self.dry_run else "已导入"
        weights = f"，比重表 {'、'.join(self.weight_tables)}" if self.weight_tables else ""
        return f"{verb}知识树 {self.file}：新建 {self.created} 个知识点，更新 {self.updated} 个，未变 {self.unchanged} 个{weights}"


# ----- export


def tree_lines(session: Session, level: int | None = None, part: str | None = None) -> list[AreaLine]:
    """Every live area (of `level` / `part` if given), parents before children, in display order."""
    query = select(KnowledgeArea).where(KnowledgeArea.merged_into_id.is_(None))
    if level is not None:
        query = query.where(KnowledgeArea.level == level)
    if part is not None:
        query = query.where(KnowledgeArea.part == part)
    areas = list(session.scalars(query))
    by_id = {a.id: a for a in areas}
    weights: dict[int, float] = {}
    for lv, pt in {(a.level, a.part) for a in areas if a.level is not None}:
        weights.update(weight_table(session, lv, pt))
    children: dict[int | None, list[KnowledgeArea]] = {}
    for a in areas:
        parent = a.parent_id if a.parent_id in by_id else None
        children.setdefault(parent, []).append(a)
    out: list[AreaLine] = []

    def walk(parent: int | None) -> None:
        for a in sorted(children.get(parent, []), key=lambda a: (a.level or 0, a.part, a.position, a.code)):
            parent_area = by_id.get(a.parent_id) if a.parent_id else None
            share = weights.get(a.id)
            out.append(
                AreaLine(
                    row=len(out) + 2,
                    level=a.level,
                    part=a.part,
                    code=a.code,
                    name=a.name,
                    kind=a.kind,
                    parent=parent_area.code if parent_area else "",
                    weight=None if share is None else round(share * 100, 4),
                )
            )
            walk(a.id)

    walk(None)
    return out


def export_tree(
    session: Session, path: Path | str, *, level: int | None = None, part: str | None = None
) -> int:
    """Write the trees to `path` (.xlsx or .json); returns how many areas were written."""
    path = Path(path)
    lines = tree_lines(session, level, part)
    suffix = path.suffix.lower()
    if suffix == ".json":
        trees: dict[tuple[int | None, str], list[dict[str, Any]]] = {}
        for line in lines:
            entry: dict[str, Any] = {"code": line.code, "name": line.name, "kind": line.kind}
            if line.parent:
                entry["parent"] = line.parent
            if line.weight is not None:
                entry["weight"] = line.weight
            trees.setdefault((line.level, line.part), []).append(entry)
        doc = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "trees": [{"level": lv, "part": pt, "areas": areas} for (lv, pt), areas in trees.items()],
        }
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    elif suffix == ".xlsx":
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = SHEET
        ws.append([header for _, header in COLUMNS])
        for line in lines:
            ws.append(
                [line.level, PART_LABELS.get(line.part, line.part), line.code, line.name, line.kind, line.parent,
                 line.weight]
            )  # fmt: skip
            for cell in ws[ws.max_row][2:6]:
                cell.number_format = "@"  # a code such as 1.10 stays text
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for column, width in zip("ABCDEFG", (6, 10, 10, 30, 10, 10, 9), strict=True):
            ws.column_dimensions[column].width = width
        ws.freeze_panes = "A2"
        help_ws = wb.create_sheet(HELP_SHEET)
        help_ws.append(["列", "填写说明"])
        for name, text in INSTRUCTIONS:
            help_ws.append([name, text])
        help_ws.column_dimensions["A"].width = 12
        help_ws.column_dimensions["B"].width = 100
        for r in help_ws.iter_rows(min_row=2):
            r[1].alignment = Alignment(wrap_text=True, vertical="top")
        wb.save(path)
    else:
        raise TreeImportError([RowProblem(path.name, None, "-", "知识树文件应为 .xlsx 或 .json")])
    return len(lines)


# ----- import


def _read_xlsx(path: Path, name: str, problems: list[RowProblem]) -> list[dict[str, Any]]:
    try:
        wb = open_workbook(path, name=name, limits=DEFAULT_LIMITS)
    except ArchiveError as exc:
        problems.append(RowProblem(name, None, exc.member or "-",
                                   NOT_A_WORKBOOK if exc.code == NOT_A_ZIP else exc.message))
        return []
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        rows = ws.iter_rows()
        header = [str(c.value or "").strip() for c in next(rows, ())]
        index: dict[str, int] = {}
        for i, text in enumerate(header):
            for field_name, aliases in HEADERS.items():
                if text.casefold() in {a.casefold() for a in aliases} and field_name not in index:
                    index[field_name] = i
        missing = [HEADERS[f][0] for f in ("code", "name") if f not in index]
        if missing:
            problems.append(RowProblem(name, 1, "-", f"缺少必需的列：{'、'.join(missing)}"))
            return []
        out = []
        for number, cells in enumerate(rows, start=2):
            values = [c.value for c in cells]
            if any(getattr(c, "data_type", None) == "f" for c in cells):
                problems.append(RowProblem(name, number, "-", "单元格是公式：请改为文本"))
                continue
            if all(v is None or str(v).strip() == "" for v in values):
                continue
            record: dict[str, Any] = {"_row": number}
            for field_name, i in index.items():
                record[field_name] = values[i] if i < len(values) else None
            out.append(record)
        return out
    finally:
        wb.close()


def _read_json(path: Path, name: str, problems: list[RowProblem]) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(RowProblem(name, None, "-", f"不是有效的 JSON 文件：{exc}"))
        return []
    trees = doc.get("trees") if isinstance(doc, dict) else None
    if not isinstance(trees, list):
        problems.append(RowProblem(name, None, "trees", "缺少 trees 列表（每项含 level、part、areas）"))
        return []
    out = []
    for t, tree in enumerate(trees):
        if not isinstance(tree, dict) or not isinstance(tree.get("areas"), list):
            problems.append(RowProblem(name, f"trees[{t}]", "areas", "每棵树应含 areas 列表"))
            continue
        for a, area in enumerate(tree["areas"]):
            where = f"trees[{t}].areas[{a}]"
            if not isinstance(area, dict):
                problems.append(RowProblem(name, where, "-", "每个知识点应为 JSON 对象"))
                continue
            out.append({"_row": where, "level": tree.get("level"), "part": tree.get("part"), **area})
    return out


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def _lines(name: str, records: list[dict[str, Any]], problems: list[RowProblem]) -> list[AreaLine]:
    lines = []
    for r in records:
        row = r["_row"]
        level_text = _text(r.get("level")).replace("级", "")
        level: int | None = None
        if level_text:
            if not level_text.isdigit() or not 1 <= int(level_text) <= 5:
                problems.append(RowProblem(name, row, "等级", f"等级 {level_text!r} 无效（应为 1-5）"))
                continue
            level = int(level_text)
        part = PARTS.get(_text(r.get("part")) or "theory")
        if part is None:
            problems.append(
                RowProblem(name, row, "科目", f"科目 {_text(r.get('part'))!r} 无效（理论知识 / 操作技能）")
            )
            continue
        code, area_name = _text(r.get("code")), _text(r.get("name"))
        kind = _text(r.get("kind")) or "知识点"
        bad = False
        if not code:
            problems.append(RowProblem(name, row, "代码", "代码不能为空"))
            bad = True
        if not area_name:
            problems.append(RowProblem(name, row, "名称", "名称不能为空"))
            bad = True
        if kind not in KINDS:
            problems.append(RowProblem(name, row, "类别", f"类别 {kind} 无效（{'、'.join(KINDS)}）"))
            bad = True
        weight = None
        if _text(r.get("weight")):
            try:
                weight = float(_text(r.get("weight")).rstrip("%"))
            except ValueError:
                problems.append(RowProblem(name, row, "比重(%)", f"比重 {_text(r.get('weight'))!r} 不是数字"))
                bad = True
        if not bad:
            lines.append(
                AreaLine(row, level, part, code, area_name[:200], kind, _text(r.get("parent")), weight)
            )
    return lines


def read_tree_file(path: Path, name: str | None = None) -> tuple[list[AreaLine], list[RowProblem]]:
    """The areas of a tree file and the problems found reading it (nothing touches the bank)."""
    name = name or path.name
    problems: list[RowProblem] = []
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return [], [
            RowProblem(
                name,
                None,
                "-",
                f"文件 {size / 1024 / 1024:.1f} MB 超过上限 {MAX_FILE_BYTES // 1024 // 1024} MB",
            )
        ]
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        records = _read_xlsx(path, name, problems)
    elif suffix == ".json":
        records = _read_json(path, name, problems)
    else:
        return [], [RowProblem(name, None, "-", "知识树文件应为 .xlsx 或 .json")]
    return _lines(name, records, problems), problems


def import_tree(
    session: Session, path: Path | str, *, actor: str, dry_run: bool = False, name: str | None = None
) -> TreeReport:
    """Create and update the areas of a tree file, all or none (raises TreeImportError); the caller commits
    (a dry run is rolled back by the caller too: nothing is flushed until every row has been checked)."""
    path = Path(path)
    name = name or path.name
    lines, problems = read_tree_file(path, name)
    report = TreeReport(name, dry_run)
    seen: dict[tuple[int | None, str, str], AreaLine] = {}
    for line in lines:
        key = (line.level, line.part, line.code)
        if key in seen:
            problems.append(
                RowProblem(name, line.row, "代码", f"代码 {line.code} 重复（第 {seen[key].row} 行已使用）")
            )
        seen[key] = line
    existing = {
        (a.level, a.part, a.code): a
        for a in session.scalars(select(KnowledgeArea).where(KnowledgeArea.merged_into_id.is_(None)))
    }
    for line in lines:
        if line.parent and (line.level, line.part, line.parent) not in seen | existing:
            problems.append(
                RowProblem(
                    name,
                    line.row,
                    "上级代码",
                    f"上级代码 {line.parent} 不在文件中，也不在 {line.level or '共用'} 级"
                    f"{PART_LABELS.get(line.part, line.part)}的知识树中",
                )
            )
        if line.parent == line.code:
            problems.append(RowProblem(name, line.row, "上级代码", "上级不能是自己"))
    _check_cycles(name, lines, existing, problems)
    weights: dict[tuple[int, str], dict[tuple[int | None, str, str], float]] = {}
    for line in lines:
        if line.weight is not None:
            if line.level is None:
                problems.append(RowProblem(name, line.row, "比重(%)", "共用标签（无等级）不能有比重"))
            elif not 0 <= line.weight <= 100:
                problems.append(
                    RowProblem(name, line.row, "比重(%)", f"比重 {line.weight:g}% 应在 0% 到 100% 之间")
                )
            else:
                weights.setdefault((line.level, line.part), {})[(line.level, line.part, line.code)] = (
                    line.weight
                )
    for (level, part), shares in weights.items():
        total = sum(shares.values())
        if total > 100 + 1e-6:
            problems.append(
                RowProblem(
                    name,
                    None,
                    "比重(%)",
                    f"{level} 级{PART_LABELS.get(part, part)}的比重合计 {total:g}%，不能超过 100%",
                )
            )
    if problems:
        raise TreeImportError(problems)
    # Parents first: a line's parent is either stored already or earlier in `ordered`.
    ordered = _parents_first(lines)
    by_key = dict(existing)
    for line in ordered:
        key = (line.level, line.part, line.code)
        parent = by_key.get((line.level, line.part, line.parent)) if line.parent else None
        area = by_key.get(key)
        if area is None:
            siblings = [a for a in by_key.values() if a.parent is parent and (a.level, a.part) == key[:2]]
            area = KnowledgeArea(
                level=line.level, part=line.part, code=line.code, name=line.name, kind=line.kind, parent=parent,
                position=len(siblings),
            )  # fmt: skip
            session.add(area)
            by_key[key] = area
            report.created += 1
        elif (area.name, area.kind, area.parent) == (line.name, line.kind, parent):
            report.unchanged += 1
        else:
            area.name, area.kind, area.parent = line.name, line.kind, parent
            report.updated += 1
    session.flush()
    for (level, part), shares in weights.items():
        set_weight_table(
            session, level, part, {by_key[k].id: v / 100 for k, v in shares.items()}, actor=actor
        )
        report.weight_tables.append(f"{level} 级{PART_LABELS.get(part, part)}")
    audit(
        session, actor, "tree.import", "knowledge_area", name, None,
        {"created": report.created, "updated": report.updated, "weights": report.weight_tables},
    )  # fmt: skip
    return report


def _parents_first(lines: list[AreaLine]) -> list[AreaLine]:
    in_file = {(ln.level, ln.part, ln.code): ln for ln in lines}
    done: set[tuple[int | None, str, str]] = set()
    out: list[AreaLine] = []

    def visit(line: AreaLine) -> None:
        key = (line.level, line.part, line.code)
        if key in done:
            return
        done.add(key)
        parent = in_file.get((line.level, line.part, line.parent)) if line.parent else None
        if parent is not None:
            visit(parent)
        out.append(line)

    for line in lines:
        visit(line)
    return out


def _check_cycles(
    name: str,
    lines: list[AreaLine],
    existing: dict[tuple[int | None, str, str], KnowledgeArea],
    problems: list[RowProblem],
) -> None:
    """A file may move areas; it may not make one its own ancestor."""
    parent_of: dict[tuple[int | None, str, str], tuple[int | None, str, str] | None] = {}
    for key, area in existing.items():
        parent_of[key] = (area.level, area.part, area.parent.code) if area.parent is not None else None
    for line in lines:
        parent_of[(line.level, line.part, line.code)] = (
            (line.level, line.part, line.parent) if line.parent else None
        )
    for line in lines:
        key: tuple[int | None, str, str] | None = (line.level, line.part, line.code)
        steps = 0
        while key is not None and steps <= len(parent_of):
            key = parent_of.get(key)
            steps += 1
            if key == (line.level, line.part, line.code):
                problems.append(
                    RowProblem(name, line.row, "上级代码", f"知识点 {line.code} 会成为自己的下级（循环）")
                )
                break
