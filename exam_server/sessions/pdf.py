"""Printed paper of a sitting: admission tickets (准考证) and room seating lists (座位表), as PDF.

reportlab needs a TrueType CJK font; Debian's fonts-wqy-zenhei provides one. Without it every
Chinese character would print as a box, so a missing font is an error that names the package.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from exam_server.core.timefmt import local
from exam_server.sessions.models import TIMING_COMMON, ExamSession, Room, Ticket
from exam_server.sessions.operations import mask_id_number
from item_bank.kernel import DomainError

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

# reportlab is imported by the functions that draw, on first use: the sessions web domain imports this
# module, and a restarted exam server must listen again within seconds.

FONT_NAME = "CJK"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
FONT_PACKAGE = "fonts-wqy-zenhei"

PARTS = {"theory": "理论知识", "skill": "操作技能", "written": "笔试", "thesis": "论文", "defence": "论文答辩"}
LEVELS = {5: "五级/初级保安员", 4: "四级/中级保安员", 3: "三级/高级保安员", 2: "二级/保安师", 1: "一级/高级保安师"}

def ticket_rules(ticket: Ticket) -> list[str]:
    """The 考生须知 of this ticket: the sitting's own rules (the ones delivery enforces), then the fixed ones."""
    s = ticket.session
    cutoff = s.starts_at + dt.timedelta(minutes=s.late_entry_min)
    if s.timing == TIMING_COMMON:
        timing = f"本场考试统一于 {local(s.ends_at, '%H:%M')} 结束，迟到不补时；时间到系统自动交卷。"
    else:
        timing = f"每位考生自本人开始答题起计时 {s.duration_s // 60} 分钟，时间到系统自动交卷。"
    submit = (f"开考 {s.min_submit_min} 分钟内不得交卷" if s.timing == TIMING_COMMON
              else f"开始答题 {s.min_submit_min} 分钟内不得交卷") if s.min_submit_min else "交卷时间不限"
    rules = [
        "1. 凭本准考证和有效身份证件，于开考前 30 分钟到达考点，经监考员核验身份后入场。",
        f"2. {timing}",
        f"3. 开考 {s.late_entry_min} 分钟后（{local(cutoff, '%H:%M')} 后）不得开始考试，经监考员准许者除外；{submit}。",
        "4. 除准考证、身份证件和黑色签字笔外，不得携带任何物品进入考场；手机须关机交监考员保管。",
        "5. 遇电脑或网络故障请举手，已保存的答案不会丢失。考生须遵守考场纪律，服从监考员安排。",
    ]
    extra = []
    if ticket.extra_time_s:
        extra.append(f"延长考试时间 {ticket.extra_time_s // 60} 分钟")
    if ticket.separate_room:
        extra.append("单独考场")
    if extra:
        rules.append(f"6. 特殊安排：{'，'.join(extra)}（{ticket.accommodation_reason}）。")
    return rules


NO_PASSWORD = "（已登录过，不再打印；忘记密码请向监考员申请重置）"
SLIP_PASSWORD = "见单独发放的密码条"


class PdfFontMissing(DomainError):
    """No TrueType CJK font for reportlab; the message says which Debian package to install."""

    default_code = "pdf_font_missing"
    default_status = 503


def _find_font() -> str:
    override = os.environ.get("EXAM_PDF_FONT")
    if override:
        if Path(override).exists():
            return override
        raise PdfFontMissing(f"EXAM_PDF_FONT 指向的字体文件不存在：{override}")
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return path
    if shutil.which("fc-list"):
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            path = line.split(":")[0].strip()
            # reportlab reads TrueType outlines only; Noto CJK's .ttc holds CFF outlines.
            if "wqy" in path.lower() and path.endswith((".ttc", ".ttf")):
                return path
    raise PdfFontMissing(
        f"生成 PDF 需要中文 TrueType 字体，但系统中没有找到。请安装 Debian 软件包 {FONT_PACKAGE}"
        f"（apt-get install {FONT_PACKAGE}），或用环境变量 EXAM_PDF_FONT 指定字体文件。"
    )


def register_cjk_font() -> str:
    """Register the CJK font with reportlab once; returns its name for `setFont`."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, _find_font(), subfontIndex=0))
    return FONT_NAME


def _session_title(exam_session: ExamSession) -> str:
    return exam_session.name


def _session_time(exam_session: ExamSession) -> str:
    end = exam_session.starts_at + dt.timedelta(seconds=exam_session.duration_s)
    return f"{local(exam_session.starts_at, '%Y年%m月%d日 %H:%M')}—{local(end, '%H:%M')}（北京时间）"


def _place(ticket: Ticket) -> tuple[str, str, str]:
    seat = ticket.seat
    if seat is None:
        return ("待安排", "待安排", "待安排")
    room = seat.room
    return (room.site.name, f"{room.name}（{room.code}）", f"{seat.number} 号")


# ---------------------------------------------------------------- admission tickets


def _draw_ticket(c: Canvas, ticket: Ticket, top: float, height: float, password: str | None,
                 photo: bytes | None) -> None:
    """One ticket in the band [top - height, top] of the page."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    width, _ = A4
    left, right = 18 * mm, width - 18 * mm
    c.setStrokeColor(colors.black)
    c.setLineWidth(1.2)
    c.rect(left, top - height + 6 * mm, right - left, height - 12 * mm)

    y = top - 18 * mm
    c.setFont(FONT_NAME, 20)
    c.drawCentredString(width / 2, y, "保安员职业技能鉴定 准考证")
    y -= 8 * mm
    c.setFont(FONT_NAME, 11)
    c.drawCentredString(width / 2, y, _session_title(ticket.session))

    exam_session = ticket.session
    site, room, seat = _place(ticket)
    rows = [
        ("准考证号", ticket.number),
        ("姓　　名", ticket.candidate.name),
        ("身份证号", mask_id_number(ticket.candidate.id_number)),
        ("鉴定等级", f"{LEVELS.get(exam_session.level, exam_session.level)}　{PARTS.get(exam_session.part, exam_session.part)}"),
        ("考试时间", _session_time(exam_session)),
        ("考　　点", site),
        ("考　　场", room),
        ("座 位 号", seat),
        ("初始密码", SLIP_PASSWORD if exam_session.password_slip else (password or NO_PASSWORD)),
    ]
    y -= 12 * mm
    label_x, value_x = left + 10 * mm, left + 38 * mm
    for label, value in rows:
        c.setFont(FONT_NAME, 12)
        c.setFillColor(colors.HexColor("#444444"))
        c.drawString(label_x, y, label)
        c.setFillColor(colors.black)
        big = label in ("准考证号", "座 位 号") or (label == "初始密码" and value == password)
        c.setFont(FONT_NAME, 16 if big else (9 if label == "初始密码" else 13))
        c.drawString(value_x, y, str(value))
        y -= 7.4 * mm

    # The photo box: the centre pastes or prints the photo; proctors compare it with the person.
    box_w, box_h = 30 * mm, 40 * mm
    c.setLineWidth(0.6)
    box_x, box_y = right - 10 * mm - box_w, top - 30 * mm - box_h
    c.rect(box_x, box_y, box_w, box_h)
    if photo:  # the applicant's ID photo (checked JPEG/PNG at upload)
        from reportlab.lib.utils import ImageReader

        c.drawImage(ImageReader(io.BytesIO(photo)), box_x, box_y, box_w, box_h, preserveAspectRatio=True,
                    anchor="c")
    else:
        c.setFont(FONT_NAME, 10)
        c.drawCentredString(box_x + box_w / 2, box_y + box_h / 2, "照片")

    y -= 1 * mm
    c.setFont(FONT_NAME, 11)
    c.drawString(label_x, y, "考生须知")
    y -= 5.5 * mm
    c.setFont(FONT_NAME, 8.2)
    for rule in ticket_rules(ticket):
        c.drawString(label_x, y, rule)
        y -= 4.3 * mm


def tickets_pdf(
    tickets: Sequence[Ticket], passwords: Mapping[int, str] | None = None, photos: Mapping[int, bytes] | None = None
) -> bytes:
    """Admission tickets, two per A4 page with a cutting line between them; `passwords` (ticket id → the password
    issued for this print) and `photos` (ticket id → image) are drawn where given."""
    passwords, photos = passwords or {}, photos or {}
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    register_cjk_font()
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle("准考证")
    c.setAuthor("保安员职业技能鉴定中心")
    width, height = A4
    half = height / 2
    if not tickets:
        c.setFont(FONT_NAME, 14)
        c.drawString(20 * mm, height - 30 * mm, "没有可打印的准考证。")
    for index, ticket in enumerate(tickets):
        if index and index % 2 == 0:
            c.showPage()
        top = height if index % 2 == 0 else half
        _draw_ticket(c, ticket, top, half, passwords.get(ticket.id), photos.get(ticket.id))
        if index % 2 == 0:
            c.setDash(3, 3)
            c.setLineWidth(0.4)
            c.line(10 * mm, half, width - 10 * mm, half)
            c.setDash()
    c.showPage()
    c.save()
    return buf.getvalue()


def password_slips_pdf(tickets: Sequence[Ticket], passwords: Mapping[int, str]) -> bytes:
    """Password slips (密码条), eight to an A4 page, for a sitting that prints the password apart from the ticket."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    register_cjk_font()
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle("密码条")
    width, height = A4
    slip_h = (height - 20 * mm) / 8
    for index, ticket in enumerate(tickets):
        if index and index % 8 == 0:
            c.showPage()
        top = height - 10 * mm - (index % 8) * slip_h
        c.setDash(3, 3)
        c.line(10 * mm, top - slip_h, width - 10 * mm, top - slip_h)
        c.setDash()
        site, room, seat = _place(ticket)
        c.setFont(FONT_NAME, 11)
        c.drawString(20 * mm, top - 9 * mm, f"{ticket.candidate.name}　{site} {room} {seat}")
        c.setFont(FONT_NAME, 14)
        c.drawString(20 * mm, top - 18 * mm,
                     f"准考证号 {ticket.number}　初始密码 {passwords.get(ticket.id) or NO_PASSWORD}")
        c.setFont(FONT_NAME, 8)
        c.drawString(20 * mm, top - 25 * mm, "请妥善保管，勿给他人；登录后如忘记密码，请向监考员申请重置。")
    c.showPage()
    c.save()
    return buf.getvalue()


# ---------------------------------------------------------------- seating lists


def seating_list_pdf(exam_session: ExamSession, room: Room, tickets: Sequence[Ticket]) -> bytes:
    """The seating list of one room for the door and the proctor's desk: seat, ticket, name, masked ID,
    and a column for the candidate's signature."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    register_cjk_font()
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(f"座位表 {room.site.name} {room.name}")
    width, height = A4
    left, right = 15 * mm, width - 15 * mm
    cols = [("座位号", 16 * mm), ("准考证号", 37 * mm), ("姓名", 27 * mm), ("身份证号", 56 * mm), ("考生签名", 0.0)]
    widths = [w for _, w in cols]
    widths[-1] = (right - left) - sum(widths[:-1])
    row_h = 9 * mm
    by_seat = sorted(tickets, key=lambda t: t.seat.number if t.seat else 10**6)
    # Title block above (46 mm) and the signature line below (25 mm) frame the rows, header row included.
    per_page = int((height - 46 * mm - 25 * mm) // row_h) - 1
    pages = [by_seat[i:i + per_page] for i in range(0, len(by_seat), per_page)] or [[]]

    for page_no, rows in enumerate(pages, start=1):
        y = height - 20 * mm
        c.setFont(FONT_NAME, 18)
        c.drawCentredString(width / 2, y, "考场座位表")
        y -= 8 * mm
        c.setFont(FONT_NAME, 11)
        c.drawCentredString(width / 2, y, _session_title(exam_session))
        y -= 7 * mm
        c.drawString(left, y, f"考点：{room.site.name}　考场：{room.name}（{room.code}）　座位数：{len(room.seats)}")
        y -= 6 * mm
        c.drawString(left, y, f"考试时间：{_session_time(exam_session)}　本考场考生 {len(tickets)} 人")
        y -= 5 * mm
        c.setLineWidth(0.6)
        c.setFillColor(colors.HexColor("#e8ecf2"))
        c.rect(left, y - row_h, right - left, row_h, fill=1, stroke=1)
        c.setFillColor(colors.black)
        x = left
        c.setFont(FONT_NAME, 11)
        for (title, _), w in zip(cols, widths, strict=True):
            c.drawString(x + 2 * mm, y - row_h + 3 * mm, title)
            x += w
        y -= row_h
        for ticket in rows:
            c.rect(left, y - row_h, right - left, row_h)
            values = [
                str(ticket.seat.number) if ticket.seat else "",
                ticket.number,
                ticket.candidate.name,
                mask_id_number(ticket.candidate.id_number),
                "",
            ]
            x = left
            c.setFont(FONT_NAME, 12)
            for value, w in zip(values, widths, strict=True):
                c.drawString(x + 2 * mm, y - row_h + 3 * mm, value)
                x += w
            y -= row_h
        x = left
        for w in widths[:-1]:
            x += w
            c.line(x, y, x, y + row_h * (len(rows) + 1))
        c.setFont(FONT_NAME, 9)
        c.drawString(left, 15 * mm, f"监考员签名：________________　　打印时间：{local(dt.datetime.now(dt.UTC), '%Y-%m-%d %H:%M')}")
        c.drawRightString(right, 15 * mm, f"第 {page_no} / {len(pages)} 页")
        c.showPage()
    c.save()
    return buf.getvalue()
