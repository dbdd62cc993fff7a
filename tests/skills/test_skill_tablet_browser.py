"""In Chromium at a tablet's size: an examiner opens their station, taps a candidate, scores each criterion by
tapping its descriptors (targets large enough for a finger), sees a wrong value named before sending, submits, and
goes on to the next candidate; the mark is stored as the examiner's."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import chromium_browser, live_server
from conftest import app_config
from skills_support import PASSWORD, make_skill_world
from sqlalchemy import select

from exam_server import create_app
from exam_server.extensions import db
from exam_server.skills.models import TABLET, SkillMark
from item_bank.db import Base, make_engine

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_examiner_scores_on_a_tablet(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(app_config(url))
    with app.app_context():
        world = make_skill_world(db.session)
        first = world.candidates[0].name
        db.dispose()

    with live_server(url, tmp_path / "instance") as server, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 800, "height": 1280}, has_touch=True, is_mobile=True)
        page.goto(f"{server.url}/staff/login?next=/skills/")
        page.fill("#username", "e1")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.click("#assignments a[data-role=examiner]")
        page.click(f"#candidates a:has-text('{first}')")
        assert page.inner_text("h1").startswith(first)
        picks = page.locator("fieldset.criterion").nth(0).locator("button.pick")
        for target in (picks.first, page.locator("#c0"), page.locator("button.step").first):
            box = target.bounding_box()
            assert box is not None and box["height"] >= 44, box
        page.fill("#c1", "9")  # 证件查验 is worth 6
        assert "应在 0 到 6 之间" in page.inner_text(".error[data-for=c1]")
        for i in range(4):  # the top descriptor of each criterion: full marks
            page.locator("fieldset.criterion").nth(i).locator("button.pick").first.tap()
        assert page.input_value("#c1") == "6"
        assert page.inner_text("#live-total") == "20"
        page.locator("fieldset.criterion").nth(3).locator("button.step[data-delta='-1']").tap()
        assert page.inner_text("#live-total") == "19.5"
        page.click("#submit-score")
        page.wait_for_selector("text=评分已提交")
        assert world.candidates[1].name in page.inner_text("h1")

    with app.app_context():
        marks = db.session.scalars(select(SkillMark)).all()
        assert [(m.total, m.criteria, m.source, m.examiner.username) for m in marks] == [
            (19.5, [4.0, 6.0, 4.0, 5.5], TABLET, "e1")]
        db.dispose()
