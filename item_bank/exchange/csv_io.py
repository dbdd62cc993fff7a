"""CSV import and export: UTF-8 (with or without BOM) and the GBK / GB18030 files Chinese Excel writes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from item_bank.exchange.cells import csv_text, from_csv_text
from item_bank.exchange.flat import EXPORT_COLUMNS, RowReader
from item_bank.exchange.records import ParsedFile, RowProblem

# GB18030 is a superset of GBK and GB2312, so one attempt covers every Chinese Excel "CSV".
ENCODINGS = ("utf-8-sig", "gb18030")


def decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding that read it; UnicodeDecodeError if none does."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8/gb18030", data, 0, 1, "neither UTF-8 nor GB18030")


def read_csv(
    path: Path, *, name: str | None = None, default_levels: list[int], max_media_bytes: int
) -> ParsedFile:
    """Every item row of a CSV file as records; unparseable rows become problems."""
    name = name or path.name
    parsed = ParsedFile(file=name, format="csv")
    try:
        text, parsed.encoding = decode(path.read_bytes())
    except UnicodeDecodeError:
        parsed.problems.append(RowProblem(name, None, "-", "文件编码无法识别（应为 UTF-8 或 GBK/GB18030）"))
        return parsed
    records = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    try:
        for record in records:
            rows.append([from_csv_text(cell) for cell in record])
    except csv.Error as exc:
        # The row being read is the next record; csv's own message is English and names no row.
        if "field larger than field limit" in str(exc):
            reason = f"单元格超过 {csv.field_size_limit()} 个字符的上限（文件可能已损坏，或引号未闭合）"
        else:
            reason = f"CSV 格式错误: {exc}"
        parsed.problems.append(RowProblem(name, len(rows) + 1, "-", reason))
        return parsed
    if not rows:
        parsed.problems.append(RowProblem(name, 1, "-", "文件为空"))
        return parsed
    reader = RowReader(parsed, path.parent, default_levels, max_media_bytes)
    if not reader.read_header(rows[0]):
        return parsed
    # One CSV record is one spreadsheet row even when a quoted cell spans lines, so the row
    # number counts records: the header is row 1, the first item row 2.
    for offset, values in enumerate(rows[1:], start=2):
        reader.read_row(offset, values)
    return parsed


def write_csv(
    path: Path,
    rows: list[dict[str, str]],
    encoding: str = "utf-8-sig",
    columns: list[tuple[str, str]] | None = None,
) -> None:
    """Write flat rows with the template's Chinese headers (UTF-8 with BOM so Excel opens it).

    `columns` (field, header) default to the template's; exports add the bank's attribute columns.
    """
    columns = columns or EXPORT_COLUMNS
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([header for _, header in columns])
        for row in rows:
            writer.writerow([csv_text(row.get(field, "")) for field, _ in columns])
