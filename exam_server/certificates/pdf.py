"""Certificates as PDF: one or a batch, on A4 (one certificate centred on each page, for an office printer) or on
the certificate's own page size (for pre-printed certificate stock). The project's PDF style and CJK font are
those of the tickets (sessions/pdf.py); the QR code is drawn as vector squares from `qrcode`'s matrix, so it
stays sharp at any print or render resolution.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from exam_server.certificates.models import INSTITUTION_TYPES, Certificate  # noqa: F401  (documented types)
from exam_server.certificates.verification import LEVEL_NAMES, OCCUPATION
from exam_server.sessions.operations import mask_id_number
from exam_server.sessions.pdf import FONT_NAME, register_cjk_font

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

# The certificate's own page: the inner page of the certificate booklet, 190 × 130 mm (landscape).
CERT_W_MM, CERT_H_MM = 190.0, 130.0
SIZES = {"a4": "A4 纸（每页一张）", "cert": "证书原尺寸（190 × 130 毫米）"}


def _score(value: float | None, exempt: bool = False) -> str:
    if exempt:
        return "免试"
    if value is None:
        return "—"
    return f"{value:.0f} 分" if float(value).is_integer() else f"{value:.1f} 分"


def _qr(c: Canvas, text: str, x: float, y: float, size: float) -> None:
    """A QR code of `text` as filled squares in the square (x, y, size), with its quiet zone inside.

    The mask pattern is fixed: choosing the best of the eight (qrcode's default) took two thirds of a batch's
    time, and any mask is standard and reads the same. The squares are drawn in module units (whole numbers)
    under a scale, which keeps the page's content short."""
    import qrcode
    from reportlab.lib import colors

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, mask_pattern=2)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # includes the 4-module border
    n = len(matrix)
    c.setFillColor(colors.white)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.saveState()
    c.translate(x, y + size)
    c.scale(size / n, -size / n)  # row r, column k is the unit square at (k, r), top row first
    c.setFillColor(colors.black)
    path = c.beginPath()
    for row_no, row in enumerate(matrix):
        col = 0
        while col < n:  # one rectangle per run of dark modules: a smaller file, faster to draw
            if row[col]:
                start = col
                while col < n and row[col]:
                    col += 1
                path.rect(start, row_no, col - start, 1)
            else:
                col += 1
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()


def _draw(c: Canvas, cert: Certificate, x0: float, y0: float, verify_url: str, photo: bytes | None) -> None:
    """One certificate in the box of the certificate's size whose lower-left corner is (x0, y0)."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm

    w, h = CERT_W_MM * mm, CERT_H_MM * mm
    c.setStrokeColor(colors.HexColor("#8a6d3b"))
    c.setLineWidth(1.6)
    c.rect(x0 + 4 * mm, y0 + 4 * mm, w - 8 * mm, h - 8 * mm)
    c.setLineWidth(0.5)
    c.rect(x0 + 6 * mm, y0 + 6 * mm, w - 12 * mm, h - 12 * mm)
    c.setFillColor(colors.black)
    c.setFont(FONT_NAME, 20)
    c.drawCentredString(x0 + w / 2, y0 + h - 20 * mm, "职业资格证书")
    c.setFont(FONT_NAME, 9)
    c.drawCentredString(x0 + w / 2, y0 + h - 26 * mm, f"证书编号：{cert.number}")

    rows = [
        ("姓　　名", cert.name),
        ("身份证号", mask_id_number(cert.id_number)),
        ("职　　业", OCCUPATION),
        ("等　　级", LEVEL_NAMES.get(cert.level, str(cert.level))),
        ("理论知识", _score(cert.theory_score, cert.theory_exempt)),
        ("操作技能", _score(cert.skill_score)),
        ("发证日期", cert.issued_on.strftime("%Y年%m月%d日")),
        ("发证机关", cert.issuer),
    ]
    y = y0 + h - 38 * mm
    for label, value in rows:
        c.setFont(FONT_NAME, 10)
        c.setFillColor(colors.HexColor("#555555"))
        c.drawString(x0 + 16 * mm, y, label)
        c.setFillColor(colors.black)
        c.setFont(FONT_NAME, 12)
        c.drawString(x0 + 38 * mm, y, value)
        y -= 9 * mm

    box_w, box_h = 30 * mm, 40 * mm
    box_x, box_y = x0 + w - 16 * mm - box_w, y0 + h - 34 * mm - box_h
    c.setLineWidth(0.5)
    c.setStrokeColor(colors.black)
    c.rect(box_x, box_y, box_w, box_h)
    if photo:
        from reportlab.lib.utils import ImageReader

        c.drawImage(ImageReader(io.BytesIO(photo)), box_x, box_y, box_w, box_h, preserveAspectRatio=True,
                    anchor="c")
    else:
        c.setFont(FONT_NAME, 9)
        c.drawCentredString(box_x + box_w / 2, box_y + box_h / 2, "照片")

    qr_size = 30 * mm
    qr_x, qr_y = x0 + w - 16 * mm - qr_size, y0 + 12 * mm
    _qr(c, verify_url, qr_x, qr_y, qr_size)
    c.setFont(FONT_NAME, 7)
    c.drawCentredString(qr_x + qr_size / 2, qr_y - 3 * mm, f"扫码查验　查询码 {cert.code}")


def certificates_pdf(certificates: Sequence[Certificate], verify_base: str, size: str = "a4",
                     photos: Mapping[int, bytes] | None = None) -> bytes:
    """The certificates, one per page; `verify_base` is the verification URL the code is appended to
    (".../verify/"), `photos` maps a candidate id to their ID photo."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    if size not in SIZES:
        raise ValueError(size)
    photos = photos or {}
    register_cjk_font()
    page = A4 if size == "a4" else (CERT_W_MM * mm, CERT_H_MM * mm)
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=page, pageCompression=1)
    c.setTitle("职业资格证书")
    c.setAuthor("保安员职业技能鉴定中心")
    x0, y0 = (page[0] - CERT_W_MM * mm) / 2, (page[1] - CERT_H_MM * mm) / 2
    if size == "a4":
        y0 = page[1] - CERT_H_MM * mm - 25 * mm  # the upper part of the sheet, as an office print is read
    if not certificates:
        c.setFont(FONT_NAME, 14)
        c.drawString(20 * mm, page[1] - 30 * mm, "没有可打印的证书。")
    for cert in certificates:
        _draw(c, cert, x0, y0, verify_base + cert.code, photos.get(cert.candidate_id))
        c.showPage()
    if not certificates:
        c.showPage()
    c.save()
    return buf.getvalue()
