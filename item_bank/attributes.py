"""Item attributes: the cognitive level (认知层次) and the bank's own named attributes.

A 双向细目表 crosses the knowledge tree with the cognitive level, so the level is a first-class column of
every version (`ItemVersion.cognitive_level`). Everything else a test designer counts by (题型形式, 知识深度,
来源, 情景 ...) is a named attribute the bank defines once (`AttributeDefinition`: enumerated values or a
number) and each version carries in `ItemVersion.attributes` (name -> str | number). Like the rest of a
version's content, attributes never change on a stored version: an edit makes a new version.

Contract (notes/plan14_16.md): assembly reads attributes only through `attribute_value(version, name)`
(name "cognitive_level" for the first-class one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.audit import audit
from item_bank.kernel.errors import DomainError
from item_bank.models import AttributeDefinition, Item, ItemVersion

# The levels of 认知层次 as Chinese 双向细目表 and 职业技能鉴定 question-writing guides use them, lowest first
# (识记 = remember, 理解 = understand, 应用 = apply; 分析/综合/评价 for the technician levels).
COGNITIVE_LEVELS: tuple[str, ...] = ("识记", "理解", "应用", "分析", "综合", "评价")
# Spellings found in other banks (the standard's 了解/熟悉/掌握 and Bloom's English names), read as the value above.
COGNITIVE_ALIASES: dict[str, str] = {
    "记忆": "识记",
    "了解": "识记",
    "remember": "识记",
    "knowledge": "识记",
    "领会": "理解",
    "熟悉": "理解",
    "understand": "理解",
    "comprehension": "理解",
    "掌握": "应用",
    "运用": "应用",
    "apply": "应用",
    "application": "应用",
    "analyse": "分析",
    "analyze": "分析",
    "analysis": "分析",
    "synthesis": "综合",
    "create": "综合",
    "evaluate": "评价",
    "evaluation": "评价",
}
COGNITIVE_LEVEL = "cognitive_level"
COGNITIVE_LABEL = "认知层次"
ENUM, NUMBER = "enum", "number"
KIND_LABELS = {ENUM: "枚举", NUMBER: "数值"}
# Names of the version's own fields, which a bank attribute may not shadow.
RESERVED_NAMES = frozenset(
    {
        COGNITIVE_LEVEL, "type", "stem", "points", "levels", "part", "status", "source", "knowledge_area",
        "area", "enemy_group", "item_set", "difficulty", "irt_a", "irt_b", "irt_c", "exposure_count", "key",
    }
)  # fmt: skip
_NAME = re.compile(r"^[A-Za-z\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]{0,39}$")


class AttributeError_(DomainError):
    """An attribute value or definition refused, naming the attribute and what is allowed."""

    default_code = "attribute_invalid"
    default_status = 422


@dataclass(frozen=True)
class AttributeSpec:
    """A definition detached from the session (what validation and exports need)."""

    name: str
    label: str
    kind: str
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def title(self) -> str:
        return self.label or self.name

    def allowed(self) -> str:
        if self.kind == ENUM:
            return "、".join(self.values)
        low = "" if self.minimum is None else f"{self.minimum:g}"
        high = "" if self.maximum is None else f"{self.maximum:g}"
        return f"数值 {low}～{high}" if (low or high) else "数值"


def attribute_value(version: Any, name: str) -> str | float | None:
    """The value of attribute `name` on an item version (None when the version does not carry it).

    "cognitive_level" (or 认知层次) reads the first-class column; any other name the bank's attributes.
    Numbers come back as float, enumerated values as str.
    """
    if name in (COGNITIVE_LEVEL, COGNITIVE_LABEL):
        return getattr(version, COGNITIVE_LEVEL, None) or None
    attrs = getattr(version, "attributes", None)
    if not isinstance(attrs, dict):
        return None
    value = attrs.get(name)
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def cognitive_level(text: Any, *, where: str = "") -> str | None:
    """The standard's value for `text` (识记/理解/应用 ..., or an alias), None for blank; refuses others."""
    if text is None:
        return None
    value = str(text).strip()
    if not value:
        return None
    if value in COGNITIVE_LEVELS:
        return value
    alias = COGNITIVE_ALIASES.get(value.lower())
    if alias:
        return alias
    raise AttributeError_(
        f"{where}认知层次“{value}”不是标准中的取值（{'、'.join(COGNITIVE_LEVELS)}）", field=COGNITIVE_LEVEL
    )


def _spec(row: AttributeDefinition) -> AttributeSpec:
    raw = row.values
    if row.kind == NUMBER:
        bounds = raw if isinstance(raw, Mapping) else {}
        low, high = bounds.get("min"), bounds.get("max")
        return AttributeSpec(
            row.name,
            row.label,
            NUMBER,
            minimum=None if low is None else float(low),
            maximum=None if high is None else float(high),
        )
    return AttributeSpec(row.name, row.label, ENUM, tuple(str(v) for v in (raw or [])))


def definitions(session: Session) -> list[AttributeSpec]:
    """The bank's attribute definitions in their display order."""
    rows = session.scalars(
        select(AttributeDefinition).order_by(AttributeDefinition.position, AttributeDefinition.id)
    )
    return [_spec(row) for row in rows]


def definitions_by_name(session: Session) -> dict[str, AttributeSpec]:
    """Definitions by name and by label (files and forms may use either)."""
    found: dict[str, AttributeSpec] = {}
    for spec in definitions(session):
        found[spec.name] = spec
        if spec.label:
            found.setdefault(spec.label, spec)
    return found


def coerce_value(spec: AttributeSpec, raw: Any, *, where: str = "") -> str | float | int | None:
    """`raw` as a value of `spec` (None for blank); refuses a value outside the definition, in Chinese."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if spec.kind == NUMBER:
        try:
            number = float(raw) if isinstance(raw, int | float) else float(str(raw).strip())
        except ValueError:
            raise AttributeError_(f"{where}{spec.title}应为数值，而不是“{raw}”", field=spec.name) from None
        if isinstance(raw, bool) or not math.isfinite(number):
            raise AttributeError_(f"{where}{spec.title}应为数值，而不是“{raw}”", field=spec.name)
        if (spec.minimum is not None and number < spec.minimum) or (
            spec.maximum is not None and number > spec.maximum
        ):
            raise AttributeError_(
                f"{where}{spec.title} {number:g} 超出范围（{spec.allowed()}）", field=spec.name
            )
        return int(number) if number.is_integer() else number
    text = str(raw).strip()
    if spec.values and text not in spec.values:
        raise AttributeError_(
            f"{where}{spec.title}“{text}”不是定义中的取值（{spec.allowed()}）", field=spec.name
        )
    return text


def normalise_attributes(
    session: Session, raw: Mapping[str, Any] | None, *, where: str = ""
) -> dict[str, Any]:
    """`raw` (names or labels -> values) checked against the bank's definitions, keyed by name, blanks dropped.

    An undefined name is refused: a typo would otherwise become an attribute no blueprint ever counts.
    """
    if not raw:
        return {}
    specs = definitions_by_name(session)
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).strip()
        spec = specs.get(name)
        if spec is None:
            known = "、".join(s.title for s in definitions(session)) or "（题库尚未定义任何属性）"
            raise AttributeError_(f"{where}属性“{name}”未定义；已定义的属性：{known}", field="attributes")
        coerced = coerce_value(spec, value, where=where)
        if coerced is not None:
            clean[spec.name] = coerced
    return dict(sorted(clean.items()))


def define_attribute(
    session: Session,
    *,
    name: str,
    label: str = "",
    kind: str = ENUM,
    values: list[Any] | Mapping[str, Any] | None = None,
    actor: str,
) -> AttributeDefinition:
    """Create or change the definition `name`; the caller commits.

    Changing a definition never rewrites stored versions (they are immutable), so a change that would leave a
    stored version with a value the definition no longer allows (a dropped enumerated value, a narrower
    range, another kind) is refused, naming the items that carry it.
    """
    name = (name or "").strip()
    if not _NAME.match(name):
        raise AttributeError_(
            f"属性名“{name}”无效：以字母或汉字开头，最多 40 个字母、数字、下划线或汉字", field="name"
        )
    if name in RESERVED_NAMES or name == COGNITIVE_LABEL:
        raise AttributeError_(f"属性名“{name}”是试题自带的字段，请换一个名字", field="name")
    if kind not in KIND_LABELS:
        raise AttributeError_(f"属性类型“{kind}”无效，应为 枚举 或 数值", field="kind")
    stored: Any
    if kind == ENUM:
        seen: list[str] = []
        for value in values or []:
            text = str(value).strip()
            if text and text not in seen:
                seen.append(text)
        if not seen:
            raise AttributeError_(f"枚举属性“{label or name}”至少要有一个取值", field="values")
        stored = seen
    else:
        bounds = dict(values) if isinstance(values, Mapping) else {}
        try:
            stored = {k: float(bounds[k]) for k in ("min", "max") if bounds.get(k) not in (None, "")}
        except (TypeError, ValueError):
            raise AttributeError_(f"数值属性“{label or name}”的上下限应为数值", field="values") from None
        if "min" in stored and "max" in stored and stored["min"] > stored["max"]:
            raise AttributeError_(f"数值属性“{label or name}”的下限大于上限", field="values")
    row = session.scalar(select(AttributeDefinition).where(AttributeDefinition.name == name))
    before = None
    if row is not None:
        _refuse_orphaning(session, name, AttributeSpec(name, label.strip(), kind, **_bounds(kind, stored)))
    if row is None:
        row = AttributeDefinition(
            name=name, label=label.strip(), kind=kind, values=stored, position=len(definitions(session))
        )
        session.add(row)
    else:
        before = {"label": row.label, "kind": row.kind, "values": row.values}
        row.label, row.kind, row.values = label.strip(), kind, stored
    session.flush()
    after = {"name": name, "label": row.label, "kind": kind, "values": stored}
    audit(session, actor, "attribute.define", "attribute_definition", row.id, before, after)
    return row


def _bounds(kind: str, stored: Any) -> dict[str, Any]:
    if kind == ENUM:
        return {"values": tuple(stored)}
    return {"minimum": stored.get("min"), "maximum": stored.get("max")}


# How many items a refusal names before it only counts the rest.
NAMED_ITEMS = 10


def usage(session: Session, name: str) -> dict[str, list[str]]:
    """Value (as shown) -> external ids of the items whose stored versions carry it, for attribute `name`."""
    found: dict[str, list[str]] = {}
    rows = session.execute(
        select(Item.external_id, ItemVersion.attributes)
        .join(Item, Item.id == ItemVersion.item_id)
        .order_by(Item.external_id, ItemVersion.version_no)
    )
    for external_id, attrs in rows:
        if not isinstance(attrs, dict) or attrs.get(name) in (None, ""):
            continue
        value = attrs[name]
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        ids = found.setdefault(shown, [])
        if external_id not in ids:
            ids.append(external_id)
    return found


def _refuse_orphaning(session: Session, name: str, spec: AttributeSpec) -> None:
    """Refuse a new definition some stored version's value would fall outside of, naming value and items."""
    stranded: list[str] = []
    for shown, items in usage(session, name).items():
        try:
            coerce_value(spec, shown)
        except AttributeError_:
            named = "、".join(items[:NAMED_ITEMS]) + (f" 等 {len(items)} 道题" if len(items) > NAMED_ITEMS else "")
            stranded.append(f"“{shown}”（试题 {named}）")
    if stranded:
        raise AttributeError_(
            f"属性“{spec.title}”未修改：已保存的试题版本仍使用 {'；'.join(stranded)}，修改后这些取值将不再有效。"
            "请先修订这些试题，或保留这些取值。",
            field="values",
        )


def describe(version: Any, specs: list[AttributeSpec] | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs of a version's attributes for a screen, the cognitive level first."""
    pairs: list[tuple[str, str]] = []
    if getattr(version, COGNITIVE_LEVEL, None):
        pairs.append((COGNITIVE_LABEL, version.cognitive_level))
    labels = {s.name: s.title for s in specs or []}
    for name, value in sorted((getattr(version, "attributes", None) or {}).items()):
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        pairs.append((labels.get(name, name), shown))
    return pairs
