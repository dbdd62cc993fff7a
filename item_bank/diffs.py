"""Two versions of an item side by side: the fields that differ, with character-level segments."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from item_bank.models import ItemVersion
from item_bank.tree import area_names
from item_bank.versions import FIELD_LABELS


@dataclass
class FieldDiff:
    """One field that differs between two versions, with side-by-side segments for text."""

    field: str
    label: str
    before: str
    after: str
    # [(tag, text)] with tag in "equal" / "delete" / "insert" for each side.
    left: list[tuple[str, str]] = field(default_factory=list)
    right: list[tuple[str, str]] = field(default_factory=list)


def _text_of(version: ItemVersion, name: str, area_names: dict[int, str]) -> str:
    content = version.content or {}
    if name == "options":
        return "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(content.get("options") or []))
    if name == "key":
        key = version.key
        if isinstance(key, list):
            return "；".join("|".join(map(str, b)) for b in key)
        return "" if key is None else str(key)
    if name == "knowledge_area":
        return area_names.get(version.knowledge_area_id or 0, "（未分类）")
    if name == "levels":
        return "、".join(f"{lv}级" for lv in version.levels or [])
    if name == "rubric":
        return "\n".join(
            f"{c.get('criterion', '')}（{c.get('points')}分）"
            if c.get("points") is not None
            else str(c.get("criterion"))
            for c in content.get("rubric") or []
        )
    if name in ("model_answer", "explanation"):
        return str(content.get(name) or "")
    if name == "media":
        return "\n".join(m.get("name", "") for m in version.media or [])
    if name == "item_set":
        return str(version.item_set_id or "")
    value = getattr(version, name)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def diff_versions(session: Session, old: ItemVersion, new: ItemVersion) -> list[FieldDiff]:
    """The fields that differ between two versions, each with character-level side-by-side segments."""
    names = area_names(session, {old.knowledge_area_id, new.knowledge_area_id})
    diffs = []
    for name, label in FIELD_LABELS.items():
        a, b = _text_of(old, name, names), _text_of(new, name, names)
        if a == b:
            continue
        left: list[tuple[str, str]] = []
        right: list[tuple[str, str]] = []
        # Character level suits Chinese text, which has no spaces between words.
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if tag == "equal":
                left.append(("equal", a[i1:i2]))
                right.append(("equal", b[j1:j2]))
                continue
            if i2 > i1:
                left.append(("delete", a[i1:i2]))
            if j2 > j1:
                right.append(("insert", b[j1:j2]))
        diffs.append(FieldDiff(name, label, a, b, left, right))
    return diffs
