"""In Chromium, from a passed level outcome to a verified certificate: centre staff issue the sitting's certificates
on the screen, the candidate logs in and downloads theirs, the PDF's page is rendered (pdftoppm), its QR code
decoded (zxing-cpp) and the URL it carries opens a verification page that says the certificate is valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from browser_support import chromium_browser, live_server, seed_file_database
from certificates_support import pass_level, seeded_centre, set_codes
from conftest import app_config

from exam_server import create_app
from exam_server.extensions import db
from exam_server.sessions.models import ExamSession, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def decode_qr(pdf: Path) -> list[str]:
    """The QR codes on the PDF's first page, rendered at 150 dpi as a printer or a phone camera would see it."""
    import zxingcpp
    from PIL import Image

    prefix = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(pdf), str(prefix)], check=True)
    (image_path,) = sorted(pdf.parent.glob(prefix.name + "*.png"))
    with Image.open(image_path) as image:
        return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def test_a_passed_candidate_downloads_a_certificate_whose_qr_code_verifies(tmp_path: Path, small_bank_csv: Path) -> None:
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    url, seeded = seed_file_database(tmp_path, small_bank_csv)
    app = create_app(app_config(url))
    with app.app_context():
        session = db.session
        set_codes(session, seeded_centre(session))
        exam_session = session.get(ExamSession, seeded.exam_session_id)
        ticket_no, password, name = seeded.logins[0]
        ticket = session.query(Ticket).filter_by(number=ticket_no).one()
        pass_level(session, exam_session.id, [ticket.candidate_id])
        code = exam_session.code
        db.dispose()

    with live_server(url, tmp_path / "instance", JOBS_BACKEND="immediate") as server, chromium_browser() as browser:
        staff = browser.new_page()
        staff.goto(f"{server.url}/staff/login?next=/certificates/?sitting={code}")
        staff.fill("#username", "staff")
        staff.fill("#password", "pw-staff")
        staff.click("button[type=submit]")
        staff.click("#issue-certificates")
        staff.wait_for_selector("text=新发证书 1 本")

        page = browser.new_page(accept_downloads=True)
        page.goto(f"{server.url}/login")
        page.fill("#ticket", ticket_no)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{server.url}/certificates/mine")
        assert "五级/初级保安员" in page.inner_text("main")
        with page.expect_download() as download:
            page.click("a.download")
        pdf = tmp_path / "certificate.pdf"
        download.value.save_as(pdf)
        assert pdf.read_bytes().startswith(b"%PDF")
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert name in text and "保安员" in text and "82 分" in text and "71.5 分" in text

        (qr,) = decode_qr(pdf)
        assert qr.startswith(f"{server.url}/verify/")
        verify = browser.new_page()  # a stranger's phone: not logged in
        verify.goto(qr)
        assert verify.get_attribute("#answer", "data-status") == "valid"
        assert "证书有效。" in verify.inner_text("#answer")
        assert name not in verify.inner_text("main")
