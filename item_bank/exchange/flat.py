"""The one-row-per-item table shared by the Excel template and CSV files.

Headers may be the Chinese ones of the template (题型, 题干, 选项A ...) or the English ones of the
public bank (type, stem, options ...). Cells are read as text and turned into `ItemRecord`s; what
cannot be parsed becomes a `RowProblem` naming the file's own column.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from item_bank.exchange.records import (
    ItemRecord,
    MediaRecord,
    ParsedFile,
    RowProblem,
    SetRecord,
    original_media_name,
)
from item_bank.media import MIME_BY_SUFFIX, MediaError, check_image, file_inside
from item_bank.types import LETTERS, column_labels, item_type, type_aliases

OPTION_LETTERS = LETTERS[:8]

# Canonical field -> accepted headers (compared casefolded, without spaces).
HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("id", "试题编号", "编号", "题号", "itemid"),
    "type": ("type", "题型"),
    "stem": ("stem", "题干", "题目", "情景材料"),
    "options": ("options", "选项"),
    **{f"option_{x}": (f"option_{x.lower()}", f"选项{x}", x.lower()) for x in OPTION_LETTERS},
    "answer": ("answer", "key", "答案", "正确答案"),
    "points": ("points", "分值", "分数"),
    "level": ("level", "levels", "等级"),
    "part": ("part", "科目", "考核科目"),
    "knowledge_area": ("knowledge_area", "area", "知识点", "鉴定要素"),
    "difficulty": ("difficulty", "难度"),
    "enemy_group": ("enemy_group", "互斥组"),
    "set_id": ("set_id", "题组编号", "所属题组"),
    "rubric": ("rubric", "评分要点"),
    "model_answer": ("model_answer", "参考答案"),
    "explanation": ("explanation", "解析"),
    "media": ("media", "图片"),
    "irt_a": ("irt_a", "区分度a", "irt区分度a"),
    "irt_b": ("irt_b", "难度b", "irt难度b"),
    "irt_c": ("irt_c", "猜测度c", "irt猜测度c"),
    "source": ("source", "来源"),
    "cognitive_level": ("cognitive_level", "认知层次", "认知水平"),
    # Written by exports for people and other systems; an import does not read them (a version's status,
    # number, people and exposure are the bank's own).
    "status": ("status", "状态"),
    "version": ("version", "版本"),
    "author": ("author", "命题人"),
    "reviewer": ("reviewer", "审题人"),
    "exposure": ("exposure", "exposure_count", "曝光次数"),
}
# A bank attribute's column: "属性:知识深度" (or "attr:dok"); the store matches names and labels.
ATTRIBUTE_PREFIXES = ("属性:", "属性：", "attr:")

# The columns written by exports, in order, with the Chinese header of the Excel template.
EXPORT_COLUMNS: list[tuple[str, str]] = [
    ("id", "试题编号"),
    ("type", "题型"),
    ("set_id", "所属题组"),
    ("stem", "题干"),
    *[(f"option_{x}", f"选项{x}") for x in OPTION_LETTERS],
    ("answer", "答案"),
    ("points", "分值"),
    ("level", "等级"),
    ("part", "科目"),
    ("knowledge_area", "知识点"),
    ("difficulty", "难度"),
    ("enemy_group", "互斥组"),
    ("rubric", "评分要点"),
    ("model_answer", "参考答案"),
    ("explanation", "解析"),
    ("media", "图片"),
    ("source", "来源"),
    ("cognitive_level", "认知层次"),
    ("irt_a", "IRT区分度a"),
    ("irt_b", "IRT难度b"),
    ("irt_c", "IRT猜测度c"),
    ("status", "状态"),
    ("version", "版本"),
    ("author", "命题人"),
    ("reviewer", "审题人"),
    ("exposure", "曝光次数"),
]
# Columns that hold numbers: exports store them as numbers (an office sums and sorts them).
NUMERIC_FIELDS = frozenset(
    {"points", "level", "difficulty", "irt_a", "irt_b", "irt_c", "version", "exposure"}
)

# A type's every spelling, compared as headers are (see `_key`), and the word exports write.
TYPE_LABELS = column_labels()
PART_ALIASES = {
    "theory": "theory",
    "理论": "theory",
    "理论知识": "theory",
    "skill": "skill",
    "操作技能": "skill",
    "技能": "skill",
    "written": "written",
    "笔试": "written",
}
# The raster images an import may bring (SVG can carry script, so it is refused on every path).
IMAGE_SUFFIXES = MIME_BY_SUFFIX


def _key(header: str) -> str:
    return "".join(unicodedata.normalize("NFKC", str(header)).split()).casefold()


TYPE_ALIASES = {_key(spelling): name for spelling, name in type_aliases().items()}


def attribute_column(header: str) -> str | None:
    """The attribute a "属性:名称" header names, else None."""
    text = unicodedata.normalize("NFKC", str(header or "")).strip()
    for prefix in ATTRIBUTE_PREFIXES:
        if text.casefold().startswith(unicodedata.normalize("NFKC", prefix)):
            name = text[len(unicodedata.normalize("NFKC", prefix)) :].strip()
            return name or None
    return None


def map_headers(headers: Iterable[str]) -> tuple[dict[str, int], dict[str, str]]:
    """Column index and header text of each canonical field found among `headers`.

    A bank attribute's column is field "attr:<name>".
    """
    lookup = {_key(alias): name for name, aliases in HEADERS.items() for alias in aliases}
    index: dict[str, int] = {}
    label: dict[str, str] = {}
    for i, header in enumerate(headers):
        attribute = attribute_column(header)
        name = f"attr:{attribute}" if attribute else lookup.get(_key(header or ""))
        if name and name not in index:
            index[name] = i
            label[name] = str(header).strip()
    return index, label


def parse_levels(text: str) -> list[int]:
    """Levels from "5", "4,5", "五级" -> sorted ints; ValueError names what is not a level."""
    cn = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
    levels = set()
    for token in re.split(r"[,，;；/\s、]+", text.strip()):
        if not token:
            continue
        token = token.replace("级", "")
        value = cn.get(token) if token in cn else int(token) if token.isdigit() else None
        if value is None or not 1 <= value <= 5:
            raise ValueError(f"等级 {token!r} 无效（应为 1-5）")
        levels.add(value)
    return sorted(levels)


def _float(text: str) -> float:
    return float(unicodedata.normalize("NFKC", text).strip())


class RowReader:
    """Turns the rows of one table (header row first) into records and problems."""

    def __init__(
        self, parsed: ParsedFile, base_dir: Path | None, default_levels: list[int], max_media_bytes: int
    ) -> None:
        self.parsed = parsed
        self.base_dir = base_dir
        self.default_levels = default_levels
        self.max_media_bytes = max_media_bytes
        self.index: dict[str, int] = {}
        self.label: dict[str, str] = {}

    def problem(self, row: int | str, field: str, reason: str) -> None:
        self.parsed.problems.append(RowProblem(self.parsed.file, row, self.label.get(field, field), reason))

    def read_header(self, headers: list[str]) -> bool:
        self.index, self.label = map_headers(headers)
        missing = [f for f in ("type", "stem") if f not in self.index]
        if "answer" not in self.index:
            missing.append("answer")
        if missing:
            for field in missing:
                self.problem(1, field, f"缺少必需的列 {field}（{'/'.join(HEADERS[field][:3])}）")
            return False
        return True

    def cell(self, values: list[Any], field: str) -> str:
        i = self.index.get(field)
        if i is None or i >= len(values):
            return ""
        value = values[i]
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    def read_row(self, row: int, values: list[Any]) -> None:
        """Parse one data row (`row` is the spreadsheet row number, header = 1)."""
        if all(v is None or str(v).strip() == "" for v in values):
            return
        before = len(self.parsed.problems)
        raw_type = self.cell(values, "type")
        kind = TYPE_ALIASES.get(_key(raw_type)) if raw_type else None
        if kind is None:
            self.problem(row, "type", f"未知题型 {raw_type!r}（可用: {' '.join(TYPE_LABELS.values())}）")
            return
        external_id = self.cell(values, "id") or f"{Path(self.parsed.file).stem}-{row}"
        stem = self.cell(values, "stem")
        media = self._media(row, self.cell(values, "media"))
        columns = {
            "stem": self.label.get("stem", "stem"),
            "key": self.label.get("answer", "answer"),
            "options": self.label.get("options") or self.label.get("option_A", "options"),
            "points": self.label.get("points", "points"),
            "blanks": self.label.get("answer", "answer"),
            "rubric": self.label.get("rubric", "rubric"),
            "model_answer": self.label.get("model_answer", "model_answer"),
            "id": self.label.get("id", "id"),
            "knowledge_area": self.label.get("knowledge_area", "knowledge_area"),
            "set_id": self.label.get("set_id", "set_id"),
            "media": self.label.get("media", "media"),
            "level": self.label.get("level", "level"),
            "cognitive_level": self.label.get("cognitive_level", "cognitive_level"),
        }
        if not item_type(kind).answerable:
            self.parsed.sets.append(
                SetRecord(
                    self.parsed.file,
                    row,
                    external_id,
                    title=self.cell(values, "explanation"),
                    stimulus=stem,
                    media=media,
                    columns=columns,
                )
            )
            return
        record = ItemRecord(
            self.parsed.file,
            row,
            external_id,
            kind,
            stem,
            media=media,
            columns=columns,
            source=self.cell(values, "source"),
        )
        self._fill_content(row, values, record)
        self._fill_metadata(row, values, record)
        if len(self.parsed.problems) == before:
            self.parsed.items.append(record)

    def _fill_content(self, row: int, values: list[Any], record: ItemRecord) -> None:
        read = item_type(record.type).read_row(_Cells(self, row, values))
        if read is None:
            return
        content, record.key = read
        explanation = self.cell(values, "explanation")
        if explanation:
            content["explanation"] = explanation
        record.content = content

    def options(self, row: int, values: list[Any]) -> list[str] | None:
        if "options" in self.index:
            raw = self.cell(values, "options")
            if not raw:
                return []
            try:
                options = json.loads(raw)
            except json.JSONDecodeError as exc:
                self.problem(row, "options", f"选项应为 JSON 列表，无法解析: {exc.msg}")
                return None
            if not isinstance(options, list):
                self.problem(row, "options", "选项应为 JSON 列表")
                return None
            return [str(o) for o in options]
        cells = [self.cell(values, f"option_{x}") for x in OPTION_LETTERS]
        while cells and not cells[-1]:
            cells.pop()
        return cells

    def _fill_metadata(self, row: int, values: list[Any], record: ItemRecord) -> None:
        points = self.cell(values, "points")
        if points:
            try:
                record.points = _float(points)
            except ValueError:
                self.problem(row, "points", f"分值 {points!r} 不是数字")
        level = self.cell(values, "level")
        try:
            record.levels = parse_levels(level) if level else list(self.default_levels)
        except ValueError as exc:
            self.problem(row, "level", str(exc))
        part = self.cell(values, "part")
        if part:
            if _key(part) not in PART_ALIASES:
                self.problem(row, "part", f"科目 {part!r} 无效（理论知识 / 操作技能）")
            else:
                record.part = PART_ALIASES[_key(part)]
        record.area = self.cell(values, "knowledge_area") or None
        record.cognitive_level = self.cell(values, "cognitive_level") or None
        for field in self.index:
            if field.startswith("attr:"):
                record.columns[field] = self.label[field]
                value = self.cell(values, field)
                if value:
                    record.attributes[field[len("attr:") :]] = value
        record.enemy_group = self.cell(values, "enemy_group") or None
        record.set_id = self.cell(values, "set_id") or None
        for field in ("difficulty", "irt_a", "irt_b", "irt_c"):
            text = self.cell(values, field)
            if text:
                try:
                    setattr(record, field, _float(text))
                except ValueError:
                    self.problem(row, field, f"{text!r} 不是数字")
        if record.difficulty is not None and not 0 <= record.difficulty <= 1:
            self.problem(row, "difficulty", f"难度 {record.difficulty} 应在 0 到 1 之间（答对比例）")

    def _media(self, row: int, text: str) -> list[MediaRecord]:
        media = []
        for name in (n.strip() for n in re.split(r"[;；\n]", text) if n.strip()):
            suffix = Path(name).suffix.lower()
            if suffix not in IMAGE_SUFFIXES:
                self.problem(row, "media", f"图片 {name} 不是支持的格式（png/jpg/gif/webp）")
                continue
            try:
                path = file_inside(self.base_dir, name)
            except MediaError as exc:
                self.problem(row, "media", exc.message)
                continue
            if not path.is_file():
                self.problem(row, "media", f"找不到图片文件 {name}（应放在导入文件所在的文件夹）")
                continue
            size = path.stat().st_size
            if size > self.max_media_bytes:
                self.problem(
                    row,
                    "media",
                    f"图片 {name} 大小 {size / 1024 / 1024:.1f} MB 超过上限 "
                    f"{self.max_media_bytes / 1024 / 1024:.1f} MB",
                )
                continue
            data = path.read_bytes()
            try:
                check_image(name, data, self.max_media_bytes)
            except MediaError as exc:
                self.problem(row, "media", exc.message)
                continue
            media.append(
                MediaRecord(
                    name=original_media_name(Path(name).name, data), data=data, mime=IMAGE_SUFFIXES[suffix]
                )
            )
        return media


@dataclass
class _Cells:
    """One data row as an item type reads it (`item_bank.types.RowCells`)."""

    reader: RowReader
    row: int
    values: list[Any]

    def cell(self, field: str) -> str:
        return self.reader.cell(self.values, field)

    def options(self) -> list[str] | None:
        return self.reader.options(self.row, self.values)

    def problem(self, field: str, reason: str) -> None:
        self.reader.problem(self.row, field, reason)
