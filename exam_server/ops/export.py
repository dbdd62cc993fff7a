"""The audit log as an Excel workbook: one row per audit event, every text cell typed as text.

An audit row holds what people typed (a reason, an item's stem in `after`): a cell starting with = + - @ must reach
the office as text, never as a formula (issue 13, finding 7), so each such cell is typed as a string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from exam_server.core.timefmt import local
from item_bank.audit import AuditEvent
from item_bank.exchange.cells import starts_like_formula

SHEET = "审计日志"
HEADERS = ("编号", "时间（北京时间）", "操作人", "操作", "对象", "对象编号", "原因", "变更前", "变更后")
WIDTHS = (10, 20, 22, 26, 16, 14, 30, 50, 50)
# Excel's own limit is 1,048,576 rows; an export this large is better narrowed by its filters.
MAX_ROWS = 1_000_000
CELL_MAX = 32_000  # Excel refuses a cell longer than 32,767 characters


def json_text(value: Any) -> str:
    """A before/after value as readable JSON (Chinese as written); '' for none."""
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    if isinstance(value, str) and len(value) > CELL_MAX:
        value = value[:CELL_MAX] + "…"
    cell = WriteOnlyCell(sheet, value=value)
    if starts_like_formula(value):
        cell.data_type = "s"  # openpyxl would store a leading "=" as a formula
    return cell


def row_values(event: AuditEvent) -> list[Any]:
    return [event.id, local(event.at), event.actor, event.action, event.entity, event.entity_id, event.reason,
            json_text(event.before), json_text(event.after)]


def write_audit_xlsx(path: Path, events: Iterable[AuditEvent], progress: Callable[[int], None] | None = None,
                     ) -> int:
    """Write `events` to `path` (streamed: memory stays flat however many rows); returns the number of rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET)
    for index, width in enumerate(WIDTHS):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_cell(sheet, header) for header in HEADERS])
    count = 0
    for event in events:
        sheet.append([_cell(sheet, value) for value in row_values(event)])
        count += 1
        if progress is not None and count % 1000 == 0:
            progress(count)
    workbook.save(path)
    return count
