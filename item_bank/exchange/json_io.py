"""JSON import and export. The schema (documented here and in `item_bank/exchange/item_bank.schema.json`):

    {
      "format": "baoan-item-bank", "version": 1,
      "item_sets": [{"id": "S-1", "title": "...", "stimulus": "...", "media": [MEDIA...]}],
      "items": [{
        "id": "BAY-0001",                      # required, unique
        "type": "single" | "multiple" | "judge" | "fill" | "short" | "essay",   # item_bank.types.section_types()
        "stem": "...",                         # required
        "options": ["...", ...],               # choice types, in order A, B, C ...
        "key": "B" | "ACD" | [["119"], ["120", "一二零"]] | null,   # fill-in: blanks of accepted answers
        "points": 1, "levels": [5], "part": "theory",
        "knowledge_area": "1.2.4 消防安全" | "消防安全" | null,      # code and/or name; null = unclassified
        "difficulty": 0.72, "irt": {"a": 1.1, "b": -0.3, "c": 0.2},
        "enemy_group": "V-BAY-0030", "set_id": "S-1", "set_position": 1,
        "rubric": [{"criterion": "...", "points": 6}], "model_answer": "...", "explanation": "...",
        "media": [MEDIA...], "source": "..."
      }]
    }
    MEDIA = {"name": "map.png", "mime": "image/png", "data_base64": "..."}  or  {"name": ..., "path": "relative/file.png"}

Problems name the item by its id (or its index when the id is missing) and the JSON field.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from pathlib import Path
from typing import Any

from item_bank.exchange.flat import IMAGE_SUFFIXES, TYPE_ALIASES
from item_bank.exchange.records import ItemRecord, MediaRecord, ParsedFile, RowProblem, SetRecord
from item_bank.media import MediaError, check_image, file_inside
from item_bank.types import item_type, section_types

FORMAT_NAME = "baoan-item-bank"
FORMAT_VERSION = 1
ITEM_FIELDS = {
    "id", "type", "stem", "options", "key", "points", "levels", "part", "knowledge_area", "difficulty", "irt",
    "enemy_group", "set_id", "set_position", "rubric", "model_answer", "explanation", "media", "source",
    "cognitive_level", "attributes",
    # Written by exports for other systems; an import does not read them back.
    "status", "version", "author", "reviewer", "exposure_count",
}  # fmt: skip


def _media_json(media: list[MediaRecord]) -> list[dict[str, Any]]:
    return [{"name": m.name, "mime": m.mime, "data_base64": base64.b64encode(m.data).decode()} for m in media]


def item_json(r: ItemRecord) -> dict[str, Any]:
    """The JSON object of one item record (the API uses it too)."""
    out: dict[str, Any] = {"id": r.external_id, "type": r.type, "stem": r.stem}
    if "options" in r.content:
        out["options"] = list(r.content["options"])
    out["key"] = r.key
    out["points"] = r.points
    out["levels"] = list(r.levels)
    out["part"] = r.part
    out["knowledge_area"] = r.area
    if r.difficulty is not None:
        out["difficulty"] = r.difficulty
    irt = {k: v for k, v in (("a", r.irt_a), ("b", r.irt_b), ("c", r.irt_c)) if v is not None}
    if irt:
        out["irt"] = irt
    for name in ("enemy_group", "set_id"):
        if getattr(r, name):
            out[name] = getattr(r, name)
    if r.set_id:
        out["set_position"] = r.set_position
    for name in ("rubric", "model_answer", "explanation"):
        if r.content.get(name):
            out[name] = r.content[name]
    if r.media:
        out["media"] = _media_json(r.media)
    if r.source:
        out["source"] = r.source
    if r.cognitive_level:
        out["cognitive_level"] = r.cognitive_level
    if r.attributes:
        out["attributes"] = dict(r.attributes)
    if r.status:
        out["status"] = r.status
    if r.version_no is not None:
        out["version"] = r.version_no
    for name in ("author", "reviewer"):
        if getattr(r, name):
            out[name] = getattr(r, name)
    if r.exposure_count is not None:
        out["exposure_count"] = r.exposure_count
    return out


def write_json(path: Path, items: list[ItemRecord], sets: list[Any]) -> None:
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "item_sets": [
            {"id": s.external_id, "title": s.title, "stimulus": s.stimulus, "media": _media_json(s.media)}
            for s in sets
        ],
        "items": [item_json(r) for r in items],
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


class _Reader:
    def __init__(self, parsed: ParsedFile, base_dir: Path, max_media_bytes: int) -> None:
        self.parsed = parsed
        self.base_dir = base_dir
        self.max_media_bytes = max_media_bytes

    def problem(self, where: str, field: str, reason: str) -> None:
        self.parsed.problems.append(RowProblem(self.parsed.file, where, field, reason))

    def media(self, where: str, field: str, value: Any) -> list[MediaRecord]:
        out: list[MediaRecord] = []
        if value in (None, []):
            return out
        if not isinstance(value, list):
            self.problem(where, field, "media 应为列表")
            return out
        for i, m in enumerate(value):
            f = f"{field}[{i}]"
            if not isinstance(m, dict) or not m.get("name"):
                self.problem(where, f, "图片应为含 name 的对象")
                continue
            suffix = Path(str(m["name"])).suffix.lower()
            mime = str(m.get("mime") or IMAGE_SUFFIXES.get(suffix, ""))
            if not mime.startswith("image/"):
                self.problem(where, f, f"图片 {m['name']} 不是支持的图片格式")
                continue
            if "data_base64" in m:
                try:
                    data = base64.b64decode(str(m["data_base64"]), validate=True)
                except (binascii.Error, ValueError):
                    self.problem(where, f, f"图片 {m['name']} 的 data_base64 不是有效的 Base64")
                    continue
            elif "path" in m:
                try:
                    p = file_inside(self.base_dir, str(m["path"]))
                except MediaError as exc:
                    self.problem(where, f, exc.message)
                    continue
                if not p.is_file():
                    self.problem(where, f, f"找不到图片文件 {m['path']}")
                    continue
                data = p.read_bytes()
            else:
                self.problem(where, f, "图片需要 data_base64 或 path")
                continue
            if len(data) > self.max_media_bytes:
                self.problem(
                    where,
                    f,
                    f"图片 {m['name']} 大小 {len(data) / 1024 / 1024:.1f} MB 超过上限 "
                    f"{self.max_media_bytes / 1024 / 1024:.1f} MB",
                )
                continue
            try:
                mime = check_image(str(m["name"]), data, self.max_media_bytes)
            except MediaError as exc:
                self.problem(where, f, exc.message)
                continue
            out.append(MediaRecord(str(m["name"]), data, mime))
        return out

    def item(self, index: int, obj: Any, default_levels: list[int]) -> None:
        where = f"items[{index}]"
        self.parsed.order[where] = index
        if not isinstance(obj, dict):
            self.problem(where, "-", "每道题应为 JSON 对象")
            return
        external_id = obj.get("id")
        if not isinstance(external_id, str) or not external_id.strip():
            self.problem(where, "id", "缺少试题编号 id")
            return
        where = external_id
        self.parsed.order.setdefault(where, index)
        before = len(self.parsed.problems)
        unknown = sorted(set(obj) - ITEM_FIELDS)
        if unknown:
            self.problem(where, unknown[0], f"未知字段 {', '.join(unknown)}")
        kind = TYPE_ALIASES.get(str(obj.get("type", "")).strip().casefold())
        if kind is None or not item_type(kind).answerable:
            self.problem(where, "type", f"未知题型 {obj.get('type')!r}（{'/'.join(section_types())}）")
            return
        stem = obj.get("stem")
        if not isinstance(stem, str):
            self.problem(where, "stem", "题干 stem 应为文字")
            stem = ""
        content = item_type(kind).read_json(obj, lambda field, reason: self.problem(where, field, reason))
        for name in ("rubric", "model_answer", "explanation"):
            if name in obj:
                content[name] = obj[name]
        if "rubric" in obj and not (
            isinstance(obj["rubric"], list) and all(isinstance(c, dict) for c in obj["rubric"])
        ):
            self.problem(where, "rubric", "rubric 应为 {criterion, points} 对象的列表")
        record = ItemRecord(
            self.parsed.file, where, external_id.strip(), kind, stem, content=content, key=obj.get("key")
        )
        record.columns = {
            "key": "key",
            "options": "options",
            "stem": "stem",
            "id": "id",
            "knowledge_area": "knowledge_area",
        }
        points = obj.get("points", 1)
        if isinstance(points, bool) or not isinstance(points, int | float):
            self.problem(where, "points", "points 应为数字")
        else:
            record.points = float(points)
        levels = obj.get("levels", default_levels)
        if (
            not isinstance(levels, list)
            or not all(isinstance(lv, int) and 1 <= lv <= 5 for lv in levels)
            or not levels
        ):
            self.problem(where, "levels", "levels 应为 1-5 的整数列表")
        else:
            record.levels = sorted(set(levels))
        part = obj.get("part", "theory")
        if part not in ("theory", "skill", "written", "thesis", "defence"):
            self.problem(where, "part", f"part {part!r} 无效")
        else:
            record.part = part
        area = obj.get("knowledge_area")
        if area is not None and not isinstance(area, str):
            self.problem(where, "knowledge_area", "knowledge_area 应为文字或 null")
        record.area = area or None
        for name in ("enemy_group", "set_id", "source"):
            value = obj.get(name)
            if value is not None and not isinstance(value, str):
                self.problem(where, name, f"{name} 应为文字")
            elif value:
                setattr(record, name, value)
        diff = obj.get("difficulty")
        if diff is not None:
            if not isinstance(diff, int | float) or not 0 <= diff <= 1:
                self.problem(where, "difficulty", "difficulty 应为 0-1 的数字")
            else:
                record.difficulty = float(diff)
        irt = obj.get("irt") or {}
        if not isinstance(irt, dict) or not all(isinstance(v, int | float) for v in irt.values()):
            self.problem(where, "irt", "irt 应为 {a, b, c} 数字")
        else:
            record.irt_a, record.irt_b, record.irt_c = irt.get("a"), irt.get("b"), irt.get("c")
        level = obj.get("cognitive_level")
        if level is not None and not isinstance(level, str):
            self.problem(where, "cognitive_level", "cognitive_level 应为文字（识记、理解、应用 …）")
        record.cognitive_level = level or None
        attributes = obj.get("attributes") or {}
        if not isinstance(attributes, dict) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in attributes.values()
        ):
            self.problem(where, "attributes", "attributes 应为 {属性名: 文字或数字} 对象")
        else:
            record.attributes = dict(attributes)
            record.columns.update({f"attr:{n}": f"attributes.{n}" for n in attributes})
        record.columns["cognitive_level"] = "cognitive_level"
        record.media = self.media(where, "media", obj.get("media"))
        if len(self.parsed.problems) == before:
            self.parsed.items.append(record)


def read_json(
    path: Path, *, name: str | None = None, default_levels: list[int], max_media_bytes: int
) -> ParsedFile:
    """Every item of a JSON bank file as records; problems name the item id and field."""
    name = name or path.name
    parsed = ParsedFile(file=name, format="json", encoding="utf-8")
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        parsed.problems.append(RowProblem(name, None, "-", "JSON 文件应为 UTF-8 编码"))
        return parsed
    except json.JSONDecodeError as exc:
        parsed.problems.append(RowProblem(name, f"line {exc.lineno}", "-", f"JSON 格式错误: {exc.msg}"))
        return parsed
    if isinstance(doc, list):
        doc = {"items": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        parsed.problems.append(RowProblem(name, None, "items", "应为含 items 列表的对象"))
        return parsed
    if doc.get("format", FORMAT_NAME) != FORMAT_NAME or doc.get("version", FORMAT_VERSION) > FORMAT_VERSION:
        parsed.problems.append(
            RowProblem(name, None, "format", f"不支持的格式 {doc.get('format')} 版本 {doc.get('version')}")
        )
        return parsed
    reader = _Reader(parsed, path.parent, max_media_bytes)
    for i, s in enumerate(doc.get("item_sets") or []):
        where = f"item_sets[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("id"), str):
            reader.problem(where, "id", "题组缺少 id")
            continue
        parsed.sets.append(
            SetRecord(
                name,
                s["id"],
                s["id"],
                title=str(s.get("title") or ""),
                stimulus=str(s.get("stimulus") or ""),
                media=reader.media(s["id"], "media", s.get("media")),
                columns={"stem": "stimulus", "id": "id"},
            )
        )
    for i, obj in enumerate(doc["items"]):
        reader.item(i, obj, default_levels)
    return parsed
