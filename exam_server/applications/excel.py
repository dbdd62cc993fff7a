"""The application workbook: its template, and the bounded reader of a unit's filled-in copy.

The reader opens an upload the way the bank does (item_bank/exchange/excel.py): a size cap, then
`check_archive` (an .xlsx is a zip, and may be a zip bomb) before openpyxl opens it, formulas refused (a formula's
cached value is whatever the maker's program wrote). It returns every data row with its spreadsheet row number
(header = row 1), or problems naming the row and column; nothing is checked against the database here.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from exam_server.applications.intake import COLUMNS, OPTIONAL, REQUIRED
from exam_server.applications.operations import Problem
from item_bank.archives import MB, NOT_A_WORKBOOK, NOT_A_ZIP, ArchiveError, ArchiveLimits, open_workbook

SHEET = "申请"
MAX_FILE_BYTES = 20 * MB
MAX_ROWS = 20_000
LIMITS = ArchiveLimits(members=200, member_bytes=64 * MB, total_bytes=128 * MB)
HELP = (
    ("姓名", "必填。"),
    ("身份证号", "必填。18 位公民身份号码，最后一位校验位按 GB 11643 核对（X 大小写均可）。请把本列设为文本，避免 Excel 把号码变成科学计数。"),
    ("性别", "可空（按身份证号判断）；填写时须为 男 或 女，且与身份证号一致。"),
    ("手机号", "必填。11 位手机号。"),
    ("工作单位", "可空。"),
    ("保安员证编号", "必填。"),
    ("保安员证发证日期", "必填。如 2023-06-01；不能是将来的日期。"),
    ("申报等级", "必填。初级保安员 / 初级 / 五级 / 5，中级保安员 / 中级 / 四级 / 4，其他等级同理。"),
    ("培训单位", "必填。已登记的培训鉴定试点单位的名称或编号。"),
    ("（可选列）", "申报四级至一级时可加列：原等级证书编号、原等级证书发证日期、从业年限（整数年）。"),
    ("导入规则", "整个文件全部无误才导入；有任何问题则一份也不导入，并列出每一处问题的行号（表头为第 1 行）和列名。"),
)


@dataclass
class Sheet:
    file: str
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def write_template(path: Path | IO[bytes]) -> None:
    """The empty template: the columns in order, text-formatted, and a sheet explaining each."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(list(COLUMNS))
    fill = PatternFill("solid", fgColor="DDEBF7")
    for i, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font, cell.fill = Font(bold=True), fill
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = 22 if column in ("身份证号", "工作单位", "培训单位") else 16
        if column != "保安员证发证日期":
            for row in range(2, 1002):  # text, so an ID number keeps its 18 digits
                ws.cell(row=row, column=i).number_format = "@"
    ws.freeze_panes = "A2"
    help_ws = wb.create_sheet("说明")
    help_ws.append(["列", "填写说明"])
    for row in HELP:
        help_ws.append(list(row))
    help_ws.column_dimensions["A"].width = 18
    help_ws.column_dimensions["B"].width = 100
    for r in help_ws.iter_rows(min_row=2):
        r[1].alignment = Alignment(wrap_text=True, vertical="top")
    wb.save(path)


def read_workbook(path: Path, *, name: str | None = None) -> Sheet:
    """Every data row of the workbook's 申请 sheet (or its first sheet), or the problems that stop reading."""
    name = name or path.name
    sheet = Sheet(name)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        sheet.problems.append(Problem(None, "-", f"文件 {size / MB:.1f} MB 超过上限 {MAX_FILE_BYTES // MB} MB"))
        return sheet
    try:
        wb = open_workbook(path, name=name, limits=LIMITS)
    except ArchiveError as exc:
        reason = NOT_A_WORKBOOK if exc.code == NOT_A_ZIP else exc.message
        sheet.problems.append(Problem(None, exc.member or "-", reason))
        return sheet
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        rows = ws.iter_rows()
        first = next(rows, None)
        header = [str(c.value).strip() if c.value is not None else "" for c in first] if first else []
        if not _check_header(sheet, header):
            return sheet
        for number, cells in enumerate(rows, start=2):
            values = [c.value for c in cells]
            if all(v is None or str(v).strip() == "" for v in values):
                continue
            if len(sheet.rows) >= MAX_ROWS:
                sheet.problems.append(Problem(number, "-", f"数据行超过上限 {MAX_ROWS} 行，请分成几个文件"))
                break
            row: dict[str, Any] = {}
            for i, cell in enumerate(cells):
                column = header[i] if i < len(header) else ""
                if not column:
                    continue
                if getattr(cell, "data_type", None) == "f":
                    sheet.problems.append(Problem(number, column, "单元格是公式：请改为文本（选择性粘贴为数值）"))
                    continue
                row[column] = cell.value
            sheet.rows.append((number, row))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        sheet.problems.append(Problem(None, "-", f"Excel 文件已损坏，无法读取: {exc.__class__.__name__}"))
    finally:
        wb.close()
    return sheet


def _check_header(sheet: Sheet, header: list[str]) -> bool:
    if not any(header):
        sheet.problems.append(Problem(1, "-", "工作表为空（第 1 行应为表头：" + "、".join(COLUMNS) + "）"))
        return False
    known = set(COLUMNS) | set(OPTIONAL)
    for column in header:
        if column and column not in known:
            sheet.problems.append(Problem(1, column, "不是模板中的列（请使用 examctl application-template 或页面下载的模板）"))
    for column in COLUMNS:
        if column not in header:
            needed = "必填列" if column in REQUIRED else "模板列"
            sheet.problems.append(Problem(1, column, f"缺少{needed}"))
    if len([c for c in header if c]) != len({c for c in header if c}):
        sheet.problems.append(Problem(1, "-", "表头有重复的列"))
    return not sheet.problems
