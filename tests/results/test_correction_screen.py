"""The key correction screen names items by their position on the paper and bank number (never an internal id),
and its summary line says what the tables under it show."""

from __future__ import annotations

import re

from conftest import csrf_token_from
from flask import Flask
from sqlalchemy.orm import Session

from exam_server.grading.seed import CANDIDATES, seed_paper_sitting, sit
from item_bank.models import APPROVED, ItemVersion
from item_bank.versions import ItemDraft, revise_item

PAPER = [{"type": "single", "stem": f"单选 {i}", "options": ["甲", "乙", "丙", "丁"], "key": "A", "points": 25}
         for i in range(4)]


def test_the_correction_screen_names_items_by_position_and_bank_number_and_its_summary_matches(
    app: Flask, session: Session
) -> None:
    seeded = seed_paper_sitting(session, PAPER, level=4, part="theory", hash_profile="low", code="CS4",
                                candidates=CANDIDATES[:3])
    sid = seeded.exam_session_id
    sit(session, seeded.attempt_ids[0], {v: "A" for v in seeded.version_ids})
    sit(session, seeded.attempt_ids[1], {v: "B" for v in seeded.version_ids})
    sit(session, seeded.attempt_ids[2], {v: "C" for v in seeded.version_ids})
    old = session.get(ItemVersion, seeded.version_ids[2])
    external_id = old.item.external_id
    draft = ItemDraft.from_version(old)
    draft.key = "B"
    revise_item(session, old.item, draft, actor="author", author_id=None).status = APPROVED
    session.commit()

    staff = app.test_client()
    token = csrf_token_from(staff.get("/staff/login").get_data(as_text=True))
    staff.post("/staff/login", data={"username": "staff", "password": "pw-staff", "csrf_token": token})
    page = staff.get(f"/results/sessions/{sid}").get_data(as_text=True)
    token = csrf_token_from(page)
    form = {"csrf_token": token, "item": external_id, "new_version": "", "reason": "第三题答案应为乙"}
    for apply in ("", "1"):
        html = staff.post(f"/results/sessions/{sid}/correct-key", data={**form, "apply": apply}).get_data(as_text=True)
        # 甲 loses the item, 乙 gains it, 丙 is unchanged: two changes, in the summary and in the table.
        assert f"第 3 题（{external_id} 第 1 版） 25 → 0 分" in html
        assert f"第 3 题（{external_id} 第 1 版） 0 → 25 分" in html
        assert re.search(rf"第 {old.id} 题(?!（)", html) is None  # the old "第 <version id> 题"
        summary = re.search(r'id="correction-summary">([^<]*)<', html).group(1)
        assert "成绩变化 2 条" in summary and "未变 1 条" in summary and "新成绩 2 条" in summary
        assert "成绩变化的考生（2）" in html
        assert seeded.logins[0][0] in html and CANDIDATES[0][1] in html  # the candidate by ticket and name
    page = staff.get(f"/results/sessions/{sid}").get_data(as_text=True)
    assert f"{external_id} 第 1 版" in page and f"{external_id} 第 2 版" in page  # the corrections table
