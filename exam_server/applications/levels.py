"""The five levels and their parts, and the many ways people write a level (初级保安员 / 初级 / 五级 / 5)."""

from __future__ import annotations

from item_bank.kernel import DomainError

LEVELS = (5, 4, 3, 2, 1)
LEVEL_NAMES = {5: "初级保安员", 4: "中级保安员", 3: "高级保安员", 2: "保安师", 1: "高级保安师"}
SHORT_NAMES = {5: "初级", 4: "中级", 3: "高级", 2: "技师", 1: "高级技师"}
NUMERAL_NAMES = {5: "五级", 4: "四级", 3: "三级", 2: "二级", 1: "一级"}
PARTS = ("theory", "skill")
PART_LABELS = {"theory": "理论知识", "skill": "操作技能"}

_ALIASES: dict[str, int] = {}
for _level in LEVELS:
    for _name in (LEVEL_NAMES[_level], SHORT_NAMES[_level], NUMERAL_NAMES[_level], str(_level)):
        _ALIASES[_name] = _level
    _ALIASES[f"{_level}级"] = _level
    _ALIASES[f"{SHORT_NAMES[_level]}工"] = _level
_ALIASES["保安师"] = 2
_ALIASES["高级保安师"] = 1


class LevelError(DomainError):
    default_code = "unknown_level"
    default_status = 400


def parse_level(text: object) -> int:
    """The level a cell or a form names; LevelError listing the accepted spellings otherwise."""
    value = str(text if text is not None else "").strip()
    if value.endswith(".0") and value[:-2].isdigit():  # a number cell read as float
        value = value[:-2]
    value = value.replace("（", "(").split("(")[0].strip()
    if value in _ALIASES:
        return _ALIASES[value]
    raise LevelError(f"申报等级“{value}”无法识别（可写 初级保安员 / 初级 / 五级 / 5，其他等级同理）")


def level_name(level: int) -> str:
    return f"{LEVEL_NAMES.get(level, level)}（{NUMERAL_NAMES.get(level, '')}）"


def parse_part(text: str) -> str:
    value = (text or "").strip()
    for part, label in PART_LABELS.items():
        if value in (part, label):
            return part
    raise LevelError(f"考核科目“{value}”无法识别（theory 理论知识 / skill 操作技能）", code="unknown_part")
