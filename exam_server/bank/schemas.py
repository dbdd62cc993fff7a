"""Turning requests into item drafts and items into JSON: the screens and the JSON API share these."""

from __future__ import annotations

import json
from typing import Any

from item_bank.exchange.cells import ALT_SEP, parse_rubric
from item_bank.kernel import DomainError
from item_bank.models import Item, ItemVersion
from item_bank.types import LETTERS
from item_bank.versions import ItemDraft

CHOICE_TYPES = ("single", "multiple", "judge")
HUMAN_TYPES = ("short", "essay")
JUDGE_OPTIONS = ["正确", "错误"]


class DraftError(DomainError, ValueError):
    """A request that does not describe an item at all (bad JSON, wrong field types)."""

    default_code = "draft_malformed"
    default_status = 400

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.field = field


def _number(value: Any, field: str, kind: type[int] | type[float], default: float | None = None) -> Any:
    """`value` as an int or float (`default` when empty); DraftError names the field otherwise."""
    if value in (None, ""):
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise DraftError(field, f"{value!r} 不是{'整数' if kind is int else '数字'}") from None


def _points(value: Any) -> float:
    return _number(value, "points", float, 1.0) or 0.0


def _id(values: Any, field: str) -> int | None:
    return _number(values.get(field), field, int)


def draft_from_form(form: Any) -> ItemDraft:
    """The draft an editor form describes (multi-valued fields via `getlist`)."""
    item_type = form.get("type", "single")
    content: dict[str, Any] = {}
    key: Any = None
    if item_type in CHOICE_TYPES:
        options = [o.strip() for o in form.getlist("option")]
        while options and not options[-1]:
            options.pop()
        content["options"] = JUDGE_OPTIONS if item_type == "judge" else options
        key = "".join(sorted(set(form.getlist("key"))))
    elif item_type == "fill":
        # One line per blank; alternatives (synonyms) on a line separated by "|".
        key = []
        for line in form.get("blanks", "").splitlines():
            answers = [a.strip() for a in ALT_SEP.split(line) if a.strip()]
            if answers:
                key.append(answers)
    elif item_type in HUMAN_TYPES:
        content["rubric"] = parse_rubric(form.get("rubric", ""))
        content["model_answer"] = form.get("model_answer", "").strip()
    explanation = form.get("explanation", "").strip()
    if explanation:
        content["explanation"] = explanation
    try:
        media = json.loads(form.get("media") or "[]")
    except json.JSONDecodeError:
        raise DraftError("media", "图片列表格式错误") from None
    return ItemDraft(
        type=item_type,
        stem=form.get("stem", "").strip(),
        content=content,
        key=key,
        points=_points(form.get("points")),
        levels=sorted({int(v) for v in form.getlist("levels") if str(v).isdigit()}),
        part=form.get("part", "theory"),
        knowledge_area_id=_id(form, "knowledge_area_id"),
        item_set_id=_id(form, "item_set_id"),
        enemy_group=form.get("enemy_group", "").strip() or None,
        media=media if isinstance(media, list) else [],
        source=form.get("source", "").strip()[:200],
        cognitive_level=form.get("cognitive_level", "").strip() or None,
        # One field per bank attribute, named "attr:<name>"; blanks are dropped when the draft is checked.
        attributes={k[len("attr:") :]: v.strip() for k, v in form.items() if k.startswith("attr:") and v.strip()},
    )


def draft_from_json(data: Any) -> ItemDraft:
    """The draft a JSON body describes (the API's item schema, as in item_bank.exchange.json_io)."""
    if not isinstance(data, dict):
        raise DraftError("-", "请求体应为 JSON 对象")
    item_type = data.get("type")
    if not isinstance(item_type, str):
        raise DraftError("type", "缺少题型 type")
    content: dict[str, Any] = {}
    if item_type in CHOICE_TYPES:
        options = data.get("options", JUDGE_OPTIONS if item_type == "judge" else [])
        if not isinstance(options, list):
            raise DraftError("options", "options 应为列表")
        content["options"] = [str(o) for o in options]
    for name in ("rubric", "model_answer", "explanation"):
        if name in data:
            content[name] = data[name]
    levels = data.get("levels", [5])
    if not isinstance(levels, list):
        raise DraftError("levels", "levels 应为列表")
    media = data.get("media", [])
    if not isinstance(media, list):
        raise DraftError("media", "media 应为列表")
    return ItemDraft(
        type=item_type,
        stem=str(data.get("stem") or "").strip(),
        content=content,
        key=data.get("key"),
        points=_points(data.get("points")),
        levels=[int(v) for v in levels if isinstance(v, int)],
        part=str(data.get("part") or "theory"),
        knowledge_area_id=_id(data, "knowledge_area_id"),
        item_set_id=_id(data, "item_set_id"),
        enemy_group=data.get("enemy_group") or None,
        media=[m for m in media if isinstance(m, dict) and m.get("sha256")],
        source=str(data.get("source") or "")[:200],
        cognitive_level=str(data.get("cognitive_level") or "").strip() or None,
        attributes=_attributes(data.get("attributes")),
    )


def _attributes(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise DraftError("attributes", "attributes 应为 {属性名: 取值} 对象")
    return {str(k): v for k, v in value.items() if v not in (None, "")}


def version_json(v: ItemVersion, *, with_key: bool = True) -> dict[str, Any]:
    """A version as the API returns it (staff only: the key is included unless asked not to)."""
    out: dict[str, Any] = {
        "version_id": v.id,
        "version_no": v.version_no,
        "status": v.status,
        "type": v.type,
        "stem": v.stem,
        "options": list((v.content or {}).get("options") or []),
        "points": v.points,
        "levels": list(v.levels or []),
        "part": v.part,
        "knowledge_area_id": v.knowledge_area_id,
        "item_set_id": v.item_set_id,
        "enemy_group": v.enemy_group,
        "media": list(v.media or []),
        "source": v.source,
        "cognitive_level": v.cognitive_level,
        "attributes": dict(v.attributes or {}),
        "author_id": v.author_id,
        "reviewer_id": v.reviewer_id,
        "created_at": v.created_at.isoformat() if v.created_at else None,
        "reviewed_at": v.reviewed_at.isoformat() if v.reviewed_at else None,
    }
    for name in ("rubric", "model_answer", "explanation"):
        if (v.content or {}).get(name):
            out[name] = v.content[name]
    if with_key:
        out["key"] = v.key
    return out


def item_json(item: Item, versions: list[ItemVersion]) -> dict[str, Any]:
    return {
        "id": item.external_id,
        "item_id": item.id,
        "current_version_id": item.current_version_id,
        "versions": [version_json(v) for v in versions],
    }


def draft_form_values(draft: ItemDraft) -> dict[str, Any]:
    """What the editor template fills its fields with."""
    options = list(draft.content.get("options") or [])
    key = draft.key if isinstance(draft.key, str) else ""
    blanks = "\n".join("|".join(map(str, b)) for b in draft.key) if isinstance(draft.key, list) else ""
    rubric = "\n".join(
        f"{c.get('criterion', '')}（{c['points']:g}分）"
        if isinstance(c.get("points"), int | float)
        else str(c.get("criterion", ""))
        for c in draft.content.get("rubric") or []
    )
    rows = max(4, len(options)) if draft.type != "judge" else 2
    return {
        "type": draft.type,
        "stem": draft.stem,
        "options": [(LETTERS[i], options[i] if i < len(options) else "") for i in range(rows)],
        "key": key,
        "blanks": blanks,
        "rubric": rubric,
        "model_answer": draft.content.get("model_answer", ""),
        "explanation": draft.content.get("explanation", ""),
        "points": f"{draft.points:g}",
        "levels": draft.levels,
        "part": draft.part,
        "knowledge_area_id": draft.knowledge_area_id,
        "item_set_id": draft.item_set_id,
        "enemy_group": draft.enemy_group or "",
        "source": draft.source,
        "cognitive_level": draft.cognitive_level or "",
        "attributes": {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in (draft.attributes or {}).items()},
        "media": json.dumps(draft.media, ensure_ascii=False),
        "media_list": draft.media,
    }
