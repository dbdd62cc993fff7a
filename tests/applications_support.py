"""Helpers of tests/applications (and of a browser test that imports applicants): a workbook of rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook

from exam_server.applications.intake import COLUMNS


def write_rows(path: Path, rows: list[dict[str, Any]], header: tuple[str, ...] = COLUMNS) -> Path:
    """An application workbook with `header` and one line per row (column → value)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "申请"
    ws.append(list(header))
    for row in rows:
        ws.append([row.get(c) for c in header])
    wb.save(path)
    return path
