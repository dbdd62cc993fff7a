"""The ticket prints the sitting's own rules, the candidate's accommodation, the initial password (or points to the
separate slip) and the applicant's photo."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from conftest import Sitting
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.sessions.models import ExamSession, Ticket
from exam_server.sessions.pdf import password_slips_pdf, tickets_pdf


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "read.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def _ticket(session: Session, sitting: Sitting) -> Ticket:
    ticket = session.scalar(select(Ticket).where(Ticket.number == sitting.seeded.logins[0][0]))
    assert ticket is not None
    return ticket


def test_the_ticket_prints_the_sittings_rules_the_accommodation_the_password_and_the_photo(
    session: Session, sitting: Sitting, tmp_path: Path
) -> None:
    ticket = _ticket(session, sitting)
    exam_session = session.get(ExamSession, ticket.session_id)
    assert exam_session is not None
    exam_session.timing, exam_session.late_entry_min, exam_session.min_submit_min = "own_start", 20, 45
    ticket.extra_time_s, ticket.separate_room, ticket.accommodation_reason = 15 * 60, True, "视力障碍"
    session.commit()
    photo = io.BytesIO()
    Image.new("RGB", (120, 160), (200, 30, 30)).save(photo, "PNG")
    data = tickets_pdf([ticket], {ticket.id: "482913"}, {ticket.id: photo.getvalue()})
    text = pdf_text(data, tmp_path)
    assert "482913" in text
    assert f"自本人开始答题起计时 {exam_session.duration_s // 60} 分钟" in text
    assert "开考 20 分钟后" in text and "开始答题 45 分钟内不得交卷" in text
    assert "特殊安排：延长考试时间 15 分钟，单独考场（视力障碍）" in text
    (tmp_path / "t.pdf").write_bytes(data)
    images = subprocess.run(["pdfimages", "-list", str(tmp_path / "t.pdf")], capture_output=True, text=True,
                            check=True).stdout
    assert len(images.splitlines()) >= 3  # two header lines, then the photo

    exam_session.password_slip = True
    session.commit()
    on_ticket = pdf_text(tickets_pdf([ticket], {ticket.id: "482913"}), tmp_path)
    assert "482913" not in on_ticket and "见单独发放的密码条" in on_ticket
    slip = pdf_text(password_slips_pdf([ticket], {ticket.id: "482913"}), tmp_path)
    assert ticket.number in slip and "482913" in slip
