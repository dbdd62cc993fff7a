"""The report as an Excel workbook an office keeps: a cover sheet saying what it counts, then one sheet per
breakdown; numbers stored as numbers, rates as fractions shown as percentages, Chinese headers, wrapped text,
the header row frozen, columns wide enough to read."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from exam_server.reports.figures import LEVEL_NAMES
from exam_server.reports.tables import COUNT, PERCENT, SCORE, TEXT, Table, breakdowns, extras, holders_table

PERCENT_FORMAT = "0.0%"
SCORE_FORMAT = "0.0"
COUNT_FORMAT = "0"
HEADER_FILL = PatternFill("solid", fgColor="DDE7F3")
THIN = Side(style="thin", color="A0A7B0")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")
HEADER_ALIGN = Alignment(wrap_text=True, vertical="center", horizontal="center")
FORMATS = {COUNT: COUNT_FORMAT, PERCENT: PERCENT_FORMAT, SCORE: SCORE_FORMAT}
HEADER = "报表-表头"
DEFINITIONS = [
    "应考人数：持有效准考证的考生（每场次每人计一次）；免试者另计，不在应考人数内。",
    "实考人数：已开始作答，或已有该场次科目成绩（如现场观察的操作技能考核）的考生。",
    "缺考人数：场次结束后仍未开始作答且无成绩的考生；未开考：场次尚未结束、尚未开始作答的考生。",
    "出勤率 = 实考 ÷（实考 + 缺考）；合格率 = 合格 ÷（合格 + 不合格），每科满分 100 分，60 分及以上为合格。",
    "等级合格率 = 等级合格人数 ÷ 考核完成人数（各必考科目均有成绩或免试）。",
    "日期：申请按提交日，考试按场次日期，等级结果按取得日期，证书按发证日期（北京时间）。",
]


def _width(value: Any, kind: str) -> float:
    if value is None:
        return 4
    if kind == PERCENT:
        return 8
    text = str(value)
    # A CJK character is about two Latin ones wide.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text) + 2


def add_styles(wb: Workbook) -> None:
    """The cell styles as named styles: set once on the workbook, named by each cell (styling every cell one
    attribute at a time costs seconds on a holders' list of thousands)."""
    wb.add_named_style(NamedStyle(name=HEADER, font=Font(bold=True), fill=HEADER_FILL, border=BORDER,
                                  alignment=HEADER_ALIGN))
    for kind in (TEXT, *FORMATS):
        wb.add_named_style(NamedStyle(name=f"报表-{kind}", border=BORDER, alignment=WRAP,
                                      number_format=FORMATS.get(kind, "General")))


def write_table(ws: Worksheet, table: Table, start_row: int = 1) -> None:
    """The table's header (bold, shaded, frozen) and rows; each cell a number where it is one."""
    widths = [_width(h, TEXT) for h in table.headers]
    for col, header in enumerate(table.headers, 1):
        ws.cell(row=start_row, column=col, value=header).style = HEADER
    styles = [f"报表-{kind}" if kind in FORMATS else f"报表-{TEXT}" for kind in table.kinds]
    for r, row in enumerate(table.rows, start_row + 1):
        for col, value in enumerate(row, 1):
            ws.cell(row=r, column=col, value=value).style = styles[col - 1]
            widths[col - 1] = max(widths[col - 1], _width(value, table.kinds[col - 1]))
    for col, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(col)].width = min(max(width, 8), 40)
    ws.freeze_panes = ws.cell(row=start_row + 1, column=2 if table.kinds[0] == TEXT else 1)


def cover(ws: Worksheet, report: dict[str, Any], title: str, notes: list[str]) -> None:
    level = report.get("level")
    lines = [
        (title, None),
        ("统计区间", f"{report['period']['from']} 至 {report['period']['to']}"),
        ("统计范围", report.get("scope", "")),
        ("等级", LEVEL_NAMES.get(level, "全部等级") if level else "全部等级"),
        ("生成时间（UTC）", report.get("generated_at", "")),
        *((note, None) for note in notes),
        ("口径说明", None),
        *((d, None) for d in DEFINITIONS),
    ]
    for r, (a, b) in enumerate(lines, 1):
        ws.cell(row=r, column=1, value=a).alignment = WRAP
        if b is not None:
            ws.cell(row=r, column=2, value=b).alignment = WRAP
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.column_dimensions["A"].width = 60
    ws.column_dimensions["B"].width = 40


def workbook_bytes(report: dict[str, Any], *, title: str = "保安员职业技能鉴定统计报表",
                   holders: list[dict[str, Any]] | None = None, notes: list[str] | None = None,
                   files: Table | None = None) -> bytes:
    """The workbook: 说明, one sheet per breakdown, the distributions, the trend, the certificates issued, and the
    holders' list (when given) and the summed centres' files (the province's summary)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "说明"
    add_styles(wb)
    cover(ws, report, title, notes or [])
    tables = [*breakdowns(report), *extras(report)]
    if holders is not None:
        tables.append(holders_table(holders))
    if files is not None:
        tables.append(files)
    for table in tables:
        write_table(wb.create_sheet(table.name[:31]), table)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
