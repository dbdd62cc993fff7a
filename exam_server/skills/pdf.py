"""The printed score sheet (操作技能评分表) of one station of a skill sitting: the task, the criteria with their
points and descriptors, then one row per candidate with a box per criterion, for an examiner without a tablet.
Typed in later on the sitting's page, or into the import workbook whose 要点 columns follow the same order.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from exam_server.core.timefmt import local
from exam_server.sessions.models import ExamSession
from exam_server.sessions.pdf import FONT_NAME, register_cjk_font
from exam_server.skills.models import Station

ROWS_PER_PAGE = 22


def _wrapped(text: str, width: int) -> list[str]:
    return [line for para in text.splitlines() for line in (textwrap.wrap(para, width) or [""])]


def score_sheet_pdf(sitting: ExamSession, station: Station, candidates: Sequence[tuple[str, str]]) -> bytes:
    """A4 pages: the station's sheet once, then the candidates (ticket number, name) in rows to fill in."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    register_cjk_font()
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(f"操作技能评分表 {station.code}")
    c.setAuthor("保安员职业技能鉴定中心")
    width, height = A4
    left = 15 * mm

    def header() -> float:
        c.setFont(FONT_NAME, 16)
        c.drawCentredString(width / 2, height - 18 * mm, f"操作技能评分表　考站 {station.code} {station.title}")
        c.setFont(FONT_NAME, 10)
        c.drawString(left, height - 26 * mm, f"考试场次 {sitting.code}　{sitting.name}")
        c.drawString(left, height - 31 * mm,
                     f"日期 {local(sitting.starts_at, '%Y-%m-%d')}　满分 {station.max_points:g}　"
                     f"两评允许差值 {station.tolerance:g}　评分步长 {station.mark_step:g}　时长 {station.duration_min} 分钟")
        c.drawString(left, height - 37 * mm, "考评员（签名）＿＿＿＿＿＿＿＿＿　主考（签名）＿＿＿＿＿＿＿＿＿　"
                                             "日期＿＿＿＿＿＿")
        return height - 45 * mm

    y = header()
    c.setFont(FONT_NAME, 10)
    for line in _wrapped(f"任务：{station.task}", 52):
        c.drawString(left, y, line)
        y -= 5 * mm
    y -= 2 * mm
    for i, criterion in enumerate(station.criteria, start=1):
        c.setFont(FONT_NAME, 10)
        c.drawString(left, y, f"要点{i}　{criterion['name']}（{float(criterion['points']):g} 分）")
        y -= 5 * mm
        c.setFont(FONT_NAME, 8.5)
        for descriptor in criterion.get("descriptors", []):
            for line in _wrapped(descriptor, 60):
                c.drawString(left + 8 * mm, y, line)
                y -= 4.2 * mm
        y -= 1 * mm
    n = len(station.criteria)
    columns = ["准考证号", "姓名", *(f"要点{i}" for i in range(1, n + 1)), "总分"]
    widths = [38 * mm, 26 * mm, *([min(18 * mm, (width - 2 * left - 82 * mm) / max(n, 1))] * n), 18 * mm]
    row_h = 9 * mm

    def table_head(top: float) -> float:
        c.setFont(FONT_NAME, 10)
        x = left
        for name, w in zip(columns, widths, strict=True):
            c.rect(x, top - row_h, w, row_h)
            c.drawCentredString(x + w / 2, top - row_h + 3 * mm, name)
            x += w
        return top - row_h

    y = table_head(y - 3 * mm)
    for number, name in candidates:
        if y - row_h < 15 * mm:
            c.showPage()
            y = table_head(header())
        x = left
        c.setFont(FONT_NAME, 10)
        for col, w in enumerate(widths):
            c.rect(x, y - row_h, w, row_h)
            if col == 0:
                c.drawString(x + 2 * mm, y - row_h + 3 * mm, number)
            elif col == 1:
                c.drawString(x + 2 * mm, y - row_h + 3 * mm, name)
            x += w
        y -= row_h
    if not candidates:
        c.drawString(left, y - 8 * mm, "本场次没有考生。")
    c.showPage()
    c.save()
    return buf.getvalue()
