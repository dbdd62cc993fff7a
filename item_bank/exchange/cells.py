"""How one table cell holds a key, blanks or a rubric: the text forms the item types read and write.

Shared by the flat files (Excel, CSV), the QTI rubric blocks and the bank's browser forms; it knows no
item type, so `item_bank.types` can use it without an import cycle.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

BLANK_SEP = re.compile(r"[;；\n]")
ALT_SEP = re.compile(r"[|｜]")
RUBRIC_POINTS = re.compile(r"[（(]\s*([0-9]+(?:\.[0-9]+)?)\s*分?\s*[)）]\s*$")


def parse_answer_letters(text: str) -> str:
    """Option letters from a key cell: "A,C,D", "acd", "ＡＣＤ" -> "ACD" (order kept for validation)."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in folded if ch.isalpha() and ch.isascii())


def parse_blanks(text: str) -> list[list[str]]:
    """Fill-in key from a cell: a JSON list, or blanks split by ";" with alternatives split by "|"."""
    text = text.strip()
    if text.startswith("["):
        data = json.loads(text)
        return [[str(a) for a in (b if isinstance(b, list) else [b])] for b in data]
    blanks = []
    for part in BLANK_SEP.split(text):
        answers = [a.strip() for a in ALT_SEP.split(part) if a.strip()]
        if answers:
            blanks.append(answers)
    return blanks


def format_blanks(key: Any) -> str:
    return "；".join("|".join(str(a) for a in blank) for blank in (key or []))


def criterion_of(line: str) -> dict[str, Any]:
    """One rubric criterion from its text, which may end in its points: "说明报警程序（6分）"."""
    match = RUBRIC_POINTS.search(line)
    if match is None:
        return {"criterion": line, "points": None}
    return {"criterion": RUBRIC_POINTS.sub("", line).strip(), "points": float(match.group(1))}


def criterion_line(criterion: dict[str, Any]) -> str:
    """The text of one rubric criterion, its points (if any) at the end: the inverse of `criterion_of`."""
    pts = criterion.get("points")
    text = str(criterion.get("criterion", ""))
    return f"{criterion.get('criterion', '')}（{pts:g}分）" if pts is not None else text


def parse_rubric(text: str) -> list[dict[str, Any]]:
    """Rubric from a cell: one criterion per line or ";", each optionally ending in "(2分)"."""
    text = text.strip()
    if text.startswith("["):
        return [dict(c) for c in json.loads(text)]
    return [criterion_of(line.strip()) for line in BLANK_SEP.split(text) if line.strip()]


def format_rubric(rubric: list[dict[str, Any]] | None) -> str:
    return "\n".join(criterion_line(c) for c in rubric or [])


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): an exported stem such
# as "=HYPERLINK(...)" must reach the office as text. CSV has no cell types, so such a cell is written with a
# leading apostrophe (Excel's own mark for text) and read back without it; xlsx cells are typed as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def starts_like_formula(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_text(value: str) -> str:
    """A cell value as CSV must hold it so that no spreadsheet evaluates it."""
    return "'" + value if starts_like_formula(value) else value


def from_csv_text(value: str) -> str:
    """The value `csv_text` wrote (other cells unchanged)."""
    return value[1:] if value.startswith("'") and starts_like_formula(value[1:]) else value
