"""The Excel template (.xlsx): one row per item, an instructions sheet, and data validation on the
type, key and knowledge-area columns. Exports write the same layout, so they import back unchanged."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from item_bank.archives import (
    DEFAULT_LIMITS,
    NOT_A_WORKBOOK,
    NOT_A_ZIP,
    ArchiveError,
    ArchiveLimits,
    open_workbook,
)
from item_bank.exchange.cells import starts_like_formula
from item_bank.exchange.flat import EXPORT_COLUMNS, NUMERIC_FIELDS, TYPE_LABELS, RowReader, map_headers
from item_bank.exchange.records import ParsedFile, RowProblem
from item_bank.types import answerable_types, item_types
from scoring.rules import Method

ITEM_SHEET = "试题"
HELP_SHEET = "填写说明"
AREA_SHEET = "知识点列表"
VALIDATED_ROWS = 5000

_KEYED = [t for t in answerable_types() if t.key_hint]
_UNKEYED = "、".join(t.label for t in answerable_types() if not t.key_hint)
_PEOPLE = "、".join(t.label for t in item_types() if t.method is Method.PEOPLE)
_STEM_HINTS = "".join(f"{t.label}{t.stem_hint}。" for t in item_types() if t.stem_hint)
_DEFAULT_OPTIONS = "；".join(
    f"{t.label}可留空（默认为 {' / '.join(t.default_options)}）" for t in item_types() if t.default_options
)

INSTRUCTIONS: list[tuple[str, str]] = [
    (
        "试题编号",
        "每道题唯一的编号，如 BAY-0001。留空则按文件名和行号生成。编号已在题库中时，内容不同就保存为该题的新版本。",
    ),
    ("题型", f"从下拉列表选择：{'、'.join(TYPE_LABELS.values())}。"),
    ("所属题组", "情景题、案例题的子题填写所属题组的编号；题组本身占一行，题型选“题组”，题干写情景材料。"),
    ("题干", f"题目文字。{_STEM_HINTS}"),
    ("选项A-H", f"选择题的选项，从 A 开始连续填写；{_DEFAULT_OPTIONS}。"),
    ("答案", "；".join(f"{t.label}{t.key_hint}" for t in _KEYED) + f"。{_UNKEYED}不填。"),
    ("分值", "本题分值，默认 1。"),
    ("等级", "1-5，可写多个，如 4,5。留空为 5 级。"),
    ("科目", "理论知识 或 操作技能，留空为理论知识。"),
    (
        "知识点",
        "从下拉列表选择（代码 名称），或只写代码、只写名称。留空的题目作为“未分类”导入，由审题人归类。",
    ),
    ("难度", "答对比例 0-1，可留空。"),
    ("互斥组", "同一互斥组的题不会出现在同一份试卷中（如题干相同、选项不同的变式题）。"),
    ("评分要点", f"{_PEOPLE}必填：每行一条，可在末尾注明分值，如：说明报警程序（6分）。"),
    ("参考答案", f"{_PEOPLE}必填。"),
    ("解析", "可选。题组行在此填写题组标题。"),
    ("图片", "图片文件名，多个用；分隔；图片放在本文件所在的文件夹（或其子文件夹）中，单张不超过 2 MB。"),
    ("来源", "可选：题目出处。"),
    (
        "认知层次",
        "可选：识记、理解、应用、分析、综合、评价（从下拉列表选择）。组卷蓝图按 知识点 × 认知层次 计数。",
    ),
    (
        "属性:名称",
        "题库定义的属性（如 属性:知识深度、属性:情景），列名为“属性:”加属性名；枚举属性从下拉列表选择，数值属性填数字。",
    ),
    ("IRT 参数", "IRT区分度a、IRT难度b、IRT猜测度c：可留空，由试题分析估计。"),
    (
        "状态 / 版本 / 命题人 / 审题人 / 曝光次数",
        "导出时写出，供查阅；导入时不读取（状态和版本由题库审核流程决定）。",
    ),
    (
        "导入规则",
        "整个文件要么全部导入，要么一题都不导入：有任何错误时列出每个错误的行号、列名和原因。"
        "可以先“预检”，只检查不保存。与题库中已有试题题干相似的题会标记为疑似重复，交审题人处理。",
    ),
]


def _header_fill() -> PatternFill:
    return PatternFill("solid", fgColor="DDE7F3")


def _number(text: Any) -> Any:
    """A numeric column's cell as a number ("2" -> 2, "0.75" -> 0.75); anything else ("4,5") stays text."""
    if not isinstance(text, str) or not text.strip():
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


# Long text an office reads wrapped in its cell.
WRAPPED_FIELDS = frozenset(
    {"stem", "rubric", "model_answer", "explanation", "source", "knowledge_area", "media"}
    | {f"option_{x}" for x in "ABCDEFGH"}
)


def write_xlsx(
    path: Path,
    rows: list[dict[str, str]],
    area_choices: list[str],
    columns: list[tuple[str, str]] | None = None,
    choices: dict[str, list[str]] | None = None,
) -> None:
    """Write the template with `rows` (none for a blank template) and validation lists.

    `columns` (field, header) default to the template's; `choices` are drop-down lists by field (认知层次,
    enumerated attributes). Numeric columns hold numbers, text columns text, long text wraps.
    """
    columns = columns or EXPORT_COLUMNS
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = ITEM_SHEET
    headers = [header for _, header in columns]
    ws.append(headers)
    numeric = [field in NUMERIC_FIELDS for field, _ in columns]
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    wrapped = [field in WRAPPED_FIELDS or field.startswith("attr:") for field, _ in columns]
    for row in rows:
        ws.append(
            [
                _number(row.get(field, "")) if is_number else row.get(field, "")
                for (field, _), is_number in zip(columns, numeric, strict=True)
            ]
        )
        for cell, is_number, is_wrapped in zip(ws[ws.max_row], numeric, wrapped, strict=False):
            if not is_number:
                if starts_like_formula(cell.value):
                    cell.data_type = "s"  # openpyxl would store it as a formula
                cell.number_format = "@"
            # A column's style applies only to cells typed later, so written cells carry their own.
            cell.alignment = wrap if is_wrapped else top
    bold = Font(bold=True)
    for col, (field, _) in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=col)
        cell.font, cell.fill = bold, _header_fill()
        width = {"stem": 50, "model_answer": 40, "rubric": 30, "knowledge_area": 22, "source": 24}.get(
            field, 12
        )
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = "A2"
    # Column formats for the rows a person types later: text, so Excel never turns a typed "1,2" or "0001"
    # into a number (numeric columns excepted), and wrapped.
    for i, is_number in enumerate(numeric, start=1):
        dim = ws.column_dimensions[get_column_letter(i)]
        dim.number_format = "General" if is_number else "@"
        dim.alignment = wrap

    col = {field: get_column_letter(i) for i, (field, _) in enumerate(columns, start=1)}
    last = max(VALIDATED_ROWS, len(rows) + 200)
    types = DataValidation(
        type="list",
        formula1='"' + ",".join(TYPE_LABELS.values()) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="题型无效",
        error="请从下拉列表选择题型",
    )
    types.add(f"{col['type']}2:{col['type']}{last}")
    t, a = col["type"], col["answer"]
    # Each type with a key check of its own (the choice types): IF(type=…, its check, IF(…, TRUE)).
    checked = [(k.column_label, k.excel_key_check) for k in item_types() if k.excel_key_check]
    formula = "TRUE"
    for label, (check, _) in reversed(checked):
        formula = f'IF({t}2="{label}",{check.replace("{a}", a)},{formula})'
    keys = DataValidation(
        type="custom",
        formula1=formula,
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="答案无效",
        error="，".join(f"{label}{what}" for label, (_, what) in checked),
    )
    keys.add(f"{a}2:{a}{last}")
    ws.add_data_validation(types)
    ws.add_data_validation(keys)
    for field, values in (choices or {}).items():
        if field not in col or not values or sum(len(v) + 1 for v in values) > 250:
            continue  # Excel's inline list holds 255 characters; a longer one is checked on import
        listed = DataValidation(
            type="list",
            formula1='"' + ",".join(v.replace('"', "") for v in values) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="取值无效",
            error="请从下拉列表选择：" + "、".join(values),
        )
        listed.add(f"{col[field]}2:{col[field]}{last}")
        ws.add_data_validation(listed)

    areas = wb.create_sheet(AREA_SHEET)
    areas.append(["知识点（代码 名称）"])
    for label in area_choices:
        areas.append([label])
    areas.column_dimensions["A"].width = 40
    if area_choices:
        area_dv = DataValidation(
            type="list",
            formula1=f"'{AREA_SHEET}'!$A$2:$A${len(area_choices) + 1}",
            allow_blank=True,
            showErrorMessage=False,  # a name or code typed by hand is accepted too
        )
        k = col["knowledge_area"]
        area_dv.add(f"{k}2:{k}{last}")
        ws.add_data_validation(area_dv)

    help_ws = wb.create_sheet(HELP_SHEET, 0)
    help_ws.append(["列", "填写说明"])
    for name, text in INSTRUCTIONS:
        help_ws.append([name, text])
    help_ws.column_dimensions["A"].width = 14
    help_ws.column_dimensions["B"].width = 110
    for cell in help_ws[1]:
        cell.font, cell.fill = bold, _header_fill()
    for r in help_ws.iter_rows(min_row=2):
        r[1].alignment = Alignment(wrap_text=True, vertical="top")
    wb.active = 1
    wb.save(path)


def read_xlsx(
    path: Path,
    *,
    name: str | None = None,
    default_levels: list[int],
    max_media_bytes: int,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> ParsedFile:
    """Every item row of the workbook's item sheet; a broken file is one problem, not a crash.

    An .xlsx is a zip that openpyxl opens itself, so the zip is checked within `limits` first (a workbook
    can be a zip bomb); openpyxl then parses its XML through defusedxml, which it uses when installed.
    """
    name = name or path.name
    parsed = ParsedFile(file=name, format="xlsx")
    try:
        wb = open_workbook(path, name=name, limits=limits)
    except ArchiveError as exc:
        reason = NOT_A_WORKBOOK if exc.code == NOT_A_ZIP else exc.message
        parsed.problems.append(RowProblem(name, None, exc.member or "-", reason))
        return parsed
    try:
        sheet = _item_sheet(wb)
        if sheet is None:
            parsed.problems.append(
                RowProblem(name, 1, "-", f"找不到试题工作表（应有“{ITEM_SHEET}”表，含 题型/题干/答案 列）")
            )
            return parsed
        parsed.file = f"{name}[{sheet.title}]" if sheet.title != ITEM_SHEET else name
        rows = sheet.iter_rows()
        first = next(rows, None)
        header = None if first is None else [_text(c.value) for c in first]
        reader = RowReader(parsed, path.parent, default_levels, max_media_bytes)
        if header is None or not reader.read_header(header):
            if header is None:
                parsed.problems.append(RowProblem(parsed.file, 1, "-", "工作表为空"))
            return parsed
        for number, cells in enumerate(rows, start=2):
            if _refuse_formulas(parsed, number, header, cells):
                continue
            reader.read_row(number, [c.value for c in cells])
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        parsed.problems.append(
            RowProblem(name, None, "-", f"Excel 文件已损坏，无法读取: {exc.__class__.__name__}")
        )
    finally:
        wb.close()
    return parsed


def _refuse_formulas(parsed: ParsedFile, row: int, header: list[str], cells: tuple[Any, ...]) -> bool:
    """Report every formula cell of a row; True if there was one.

    A bank holds text, and a formula's cached value is whatever the file's maker wrote, not what the formula
    says: the author is asked for the text itself.
    """
    found = False
    for i, cell in enumerate(cells):
        if getattr(cell, "data_type", None) == "f":
            column = header[i] if i < len(header) and header[i] else get_column_letter(i + 1)
            formula = str(cell.value)
            formula = formula if len(formula) <= 40 else formula[:40] + "…"
            parsed.problems.append(
                RowProblem(
                    parsed.file,
                    row,
                    column,
                    f"单元格是公式 {formula}：导入不计算公式，请改为文本（选择性粘贴为数值）",
                )
            )
            found = True
    return found


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _item_sheet(wb: Any) -> Any:
    if ITEM_SHEET in wb.sheetnames:
        return wb[ITEM_SHEET]
    for ws in wb.worksheets:
        header = next(ws.iter_rows(max_row=1, values_only=True), None)
        if header:
            index, _ = map_headers([_text(v) for v in header])
            if {"type", "stem"} <= set(index):
                return ws
    return None
