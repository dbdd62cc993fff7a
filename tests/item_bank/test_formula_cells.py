"""Exported cells that start like a formula reach a spreadsheet as text, and import back unchanged."""

from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import load_workbook

from item_bank.exchange.csv_io import read_csv, write_csv
from item_bank.exchange.excel import read_xlsx, write_xlsx

HOSTILE = {
    "id": "X-1",
    "type": "单选",
    "stem": '=HYPERLINK("http://evil.example/","点此")',
    "option_A": "+1+1",
    "option_B": "-2",
    "option_C": "@SUM(A1:A9)",
    "option_D": "正常选项",
    "answer": "D",
    "knowledge_area": "综合",
}


def _row() -> dict[str, str]:
    return dict(HOSTILE)


def test_xlsx_cells_are_text_not_formulas(tmp_path: Path) -> None:
    path = tmp_path / "bank.xlsx"
    row = _row()
    write_xlsx(path, [row], area_choices=["综合"])
    ws = load_workbook(path)["试题"]
    cells = [c for c in ws[2] if isinstance(c.value, str) and c.value[:1] in "=+-@"]
    assert cells, "the hostile cells were written"
    assert all(c.data_type == "s" for c in cells)
    parsed = read_xlsx(path, default_levels=[5], max_media_bytes=1 << 20)
    assert not parsed.problems and parsed.items[0].stem == HOSTILE["stem"]
    assert parsed.items[0].content["options"][:3] == ["+1+1", "-2", "@SUM(A1:A9)"]


def test_csv_cells_carry_the_text_mark_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    write_csv(path, [_row()])
    raw = list(csv.reader(path.open(encoding="utf-8-sig")))[1]
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in raw)
    assert "'" + HOSTILE["stem"] in raw
    parsed = read_csv(path, default_levels=[5], max_media_bytes=1 << 20)
    assert not parsed.problems and parsed.items[0].stem == HOSTILE["stem"]
    assert parsed.items[0].content["options"][:3] == ["+1+1", "-2", "@SUM(A1:A9)"]
