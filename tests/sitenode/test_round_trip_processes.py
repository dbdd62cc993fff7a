"""Issue 18's round trip as operators run it: centre → site → centre on two SQLite files that share nothing but the
package files copied between their folders, every step an `examctl` process, the exam sat in Chromium at the
site's own server (NODE_ROLE=site)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from browser_support import LiveServer, chromium_browser, seed_file_database
from exam_day.conftest import ExamScreen
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.results.models import Result
from exam_server.sessions.models import ExamSession, Ticket
from item_bank.audit import AuditEvent
from item_bank.db import Base, make_engine
from item_bank.models import FormItem, Item, ItemVersion

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SITE_CODE = "GZ01"  # the demo centre's site
SITE_SECRET = "live-test-secret"  # what LiveServer gives the site's server


class Node:
    """One side: its database file, its instance and key folders, and `examctl` run there."""

    def __init__(self, folder: Path, url: str, secret: str, **env: str) -> None:
        self.folder, self.url = folder, url
        self.keys = folder / "keys"
        jobs = folder / "instance" / "jobs"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("JOBS_", "SOCKETIO_", "DATABASE_URL", "NODE_", "SITE_CODE"))}
        self.env.update(DATABASE_URL=url, SECRET_KEY=secret, PASSWORD_HASH_PROFILE="low", NODE_KEY_DIR=str(self.keys),
                        JOBS_DIR=str(jobs / "files"), JOBS_UPLOAD_DIR=str(jobs / "uploads"),
                        JOBS_QUEUE_DB=str(jobs / "queue.db"), **env)

    def examctl(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "exam_server.entry", *args], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)
        if ok:
            assert done.returncode == 0, f"examctl {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def public_key(self, *args: str) -> str:
        out = self.examctl("site", "keygen", *args).stdout
        match = re.search(r"公钥：(\S+)", out)
        assert match, out
        return match.group(1)

    def session(self) -> Session:
        return Session(make_engine(self.url))


def _flip_a_byte(path: Path, member: str) -> bytes:
    """The file with one bit changed in the middle of `member`'s stored (compressed) data."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + info.compress_size // 2] ^= 0x01
    return bytes(data)


def _answers(node: Node, ticket: str) -> dict[str, Any]:
    """{item external id: value} of the ticket's acknowledged answers (ids differ between the two databases)."""
    with node.session() as s:
        rows = s.execute(select(Item.external_id, Response.value)
                         .join(ItemVersion, ItemVersion.item_id == Item.id)
                         .join(Response, Response.item_version_id == ItemVersion.id)
                         .join(Attempt, Attempt.id == Response.attempt_id)
                         .join(Ticket, Ticket.id == Attempt.ticket_id)
                         .where(Ticket.number == ticket, Response.seq > 0))
        return {str(ref): value for ref, value in rows}


def _counts(node: Node) -> dict[str, int]:
    with node.session() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) or 0
                for m in (Attempt, AttemptEvent, Response, Result, AuditEvent)}


def _centre_state(centre: Node, ticket: str) -> tuple[str, dict[str, Any], list[tuple[float | None, float | None, bool]]]:
    with centre.session() as s:
        attempt = s.scalars(select(Attempt).join(Ticket, Ticket.id == Attempt.ticket_id)
                            .where(Ticket.number == ticket)).one()
        results = [(r.points, r.max_points, r.superseded) for r in
                   s.scalars(select(Result).where(Result.attempt_id == attempt.id).order_by(Result.id))]
        return attempt.status, _answers(centre, ticket), results


def test_centre_site_centre_round_trip_in_separate_processes(tmp_path: Path, shared_bank_csv: Path) -> None:
    centre_dir, site_dir, carried = tmp_path / "centre", tmp_path / "site", tmp_path / "carried"
    for folder in (centre_dir, site_dir, carried):
        folder.mkdir()
    # The centre: a sitting seeded in its own file; its tickets' initial passwords sealed under its secret, as printed.
    centre_url, seeded = seed_file_database(centre_dir, shared_bank_csv, n_candidates=2, keep_sealed=True,
                                            check_in_all=False)
    centre = Node(centre_dir, centre_url, "test-secret")
    with centre.session() as s:
        sitting = s.scalars(select(ExamSession.code)).one()
        stem = s.scalars(select(ItemVersion.stem).join(FormItem, FormItem.item_version_id == ItemVersion.id)
                         .order_by(FormItem.id)).first() or ""
    # The site: an empty database of its own.
    site_url = f"sqlite:///{site_dir / 'site.db'}"
    engine = make_engine(site_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    site = Node(site_dir, site_url, SITE_SECRET, NODE_ROLE="site")

    # The two sides' operators work at once (each an examctl process of its own, ~2 s to start).
    with ThreadPoolExecutor(2) as both:
        keygen = both.submit(centre.public_key), both.submit(site.public_key, "--site", SITE_CODE)
        centre_key, site_key = (run.result() for run in keygen)
        registered = (both.submit(centre.examctl, "site", "register", SITE_CODE, "--public-key", site_key),
                      both.submit(site.examctl, "site", "trust-centre", "--public-key", centre_key))
        for run in registered:
            run.result()

    exported = centre.examctl("site", "export", sitting, "--site", SITE_CODE, "-o", str(centre_dir / "out.zip"))
    assert "2 名考生" in exported.stdout and "需由考点监考员重置" not in exported.stdout, exported.stdout
    shutil.copy(centre_dir / "out.zip", site_dir / "in.zip")
    assert "已导入考试场次" in site.examctl("site", "import", str(site_dir / "in.zip"), "--sitting", sitting).stdout
    # Imported, and the paper still sealed: no stem of the centre's form in any file at the site (the database, its
    # WAL if one is left, the package itself).
    assert len(stem) > 8
    assert [f.name for f in site_dir.rglob("*") if f.is_file() and stem.encode() in f.read_bytes()] == []

    code = re.search(r"解封码：(\S+)", centre.examctl("site", "release-code", sitting, "--site", SITE_CODE).stdout)
    assert code, "no release code printed"
    assert "已解封" in site.examctl("site", "unseal", sitting, code.group(1)).stdout
    with site.session() as s:
        assert stem in s.scalars(select(ItemVersion.stem)).all()
        attempt_ids = {t: a for t, a in s.execute(select(Ticket.number, Attempt.id)
                                                     .join(Attempt, Attempt.ticket_id == Ticket.id))}

    # Exam day at the site: its own server; the proctor checks the candidate in, the candidate sits in Chromium.
    number, password, _name = seeded.logins[0]
    server = LiveServer(site_url, site_dir / "instance", NODE_ROLE="site", NODE_KEY_DIR=str(site.keys)).start()
    try:
        with chromium_browser() as browser:
            desk = browser.new_context().new_page()
            desk.goto(f"{server.url}/staff/login")
            desk.fill("#username", "proctor")
            desk.fill("#password", "pw-staff")
            with desk.expect_navigation():
                desk.click("button[type=submit]")
            desk.goto(f"{server.url}/proctor")
            token = desk.locator('meta[name="csrf-token"]').get_attribute("content") or ""
            checked = desk.request.post(f"{server.url}/proctor/attempts/{attempt_ids[number]}/check_in",
                                        data={}, headers={"X-CSRFToken": token})
            assert checked.ok, checked.text()

            context = browser.new_context(viewport={"width": 1024, "height": 768})
            page = context.new_page()
            page.goto(f"{server.url}/login")
            page.fill("#ticket", number)
            page.fill("#password", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/exam")
            screen = ExamScreen(page, context, int(page.locator("#app").get_attribute("data-attempt-id") or 0))
            screen.start()
            clicked = {}
            for option in (0, 1, 0, 1):
                item_id, value = screen.answer(option)
                clicked[item_id] = value
                screen.next()
            page.get_by_role("button", name="交 卷").click()
            page.get_by_role("button", name="确认交卷").first.click()
            page.locator("#confirm-yes").click()
            page.wait_for_selector("#screen-done:not([hidden])")
    finally:
        server.stop()
    with site.session() as s:
        refs = {v: ref for v, ref in s.execute(select(ItemVersion.id, Item.external_id)
                                                .join(Item, Item.id == ItemVersion.item_id))}
    sat = _answers(site, number)
    assert sat == {str(refs[item_id]): value for item_id, value in clicked.items()} and len(sat) == 4

    # Results back: made at the site, carried as a file, imported and scored at the centre.
    site.examctl("site", "results", sitting, "-o", str(site_dir / "results.zip"))
    shutil.copy(site_dir / "results.zip", carried / "results.zip")
    (carried / "tampered.zip").write_bytes(_flip_a_byte(carried / "results.zip", "results.json"))
    refused = centre.examctl("site", "import-results", str(carried / "tampered.zip"), ok=False)
    reason = refused.stderr.strip()
    assert refused.returncode != 0 and "Traceback" not in reason, refused
    assert re.search(r"results\.json.*[\u4e00-\u9fff]{4}", reason), reason
    assert _centre_state(centre, number)[1] == {}
    untouched = _counts(centre)

    centre.examctl("site", "import-results", str(carried / "results.zip"))
    status, answers, results = _centre_state(centre, number)
    assert answers == sat
    # Scored as the centre scores any sitting: a point for each answer matching the centre's key, out of 10.
    with centre.session() as s:
        keys = {str(ref): key for ref, key in s.execute(
            select(Item.external_id, ItemVersion.key).join(ItemVersion, ItemVersion.item_id == Item.id)
            .join(FormItem, FormItem.item_version_id == ItemVersion.id))}
    expected = sum(1.0 for ref, value in answers.items() if value == keys[ref])
    assert status in ("submitted", "scored") and results == [(expected, 10.0, False)], (results, answers, keys)

    imported = _counts(centre)
    assert imported[AttemptEvent.__name__] > untouched[AttemptEvent.__name__]

    again = centre.examctl("site", "import-results", str(carried / "results.zip"))
    assert "没有新内容，未做任何改动" in again.stdout, again.stdout
    assert _counts(centre) == imported
    assert _centre_state(centre, number) == (status, answers, results)

    # The centre releases the score (the other candidate has not sat yet: a partial release, with its reason).
    released = centre.examctl("release-results", sitting, "--ticket", number, "--reason", "考点成绩数据包已回传核验")
    assert "1" in released.stdout, released.stdout
    with centre.session() as s:
        assert s.scalars(select(Result.status).join(Attempt, Attempt.id == Result.attempt_id)
                         .join(Ticket, Ticket.id == Attempt.ticket_id).where(Ticket.number == number)).all() == ["released"]
