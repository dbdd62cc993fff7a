"""Item attributes a blueprint can count by: cognitive level (认知层次) and the bank's named attributes.

Contract (notes/plan14_16.md): `ItemVersion.cognitive_level` and `ItemVersion.attributes` (name → str|number)
belong to the item-attribute work; assembly reads them only through `attribute_value`, so it keeps working
on a schema that has not grown those columns yet (the value is then simply absent).
"""

from __future__ import annotations

from typing import Any

# The first-class attribute's name in blueprints and the values the standard uses.
COGNITIVE_LEVEL = "cognitive_level"
COGNITIVE_LEVELS = ("识记", "理解", "应用", "分析", "综合")


def attribute_value(version: Any, name: str) -> str | float | None:
    """The value of attribute `name` on an item version (None when the version does not carry it)."""
    if name == COGNITIVE_LEVEL:
        value = getattr(version, COGNITIVE_LEVEL, None)
        return value or None
    attrs = getattr(version, "attributes", None)
    if not isinstance(attrs, dict):
        return None
    value = attrs.get(name)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return str(value)
