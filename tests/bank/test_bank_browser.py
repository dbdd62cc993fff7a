"""An author writes an item in Chromium (live preview, image upload) and a reviewer approves it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import LiveServer, chromium_browser
from sqlalchemy import select

from item_bank.db import Base, make_engine, make_session_factory

pytestmark = pytest.mark.browser

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    import exam_server.models  # noqa: F401
    from exam_server.core.models import User
    from exam_server.core.security import hash_password
    from item_bank.standard_tree import ensure_standard_tree

    url = f"sqlite:///{tmp_path / 'bank.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    session = make_session_factory(engine)()
    ensure_standard_tree(session, "test")
    for username, roles in (("author", ["author"]), ("reviewer", ["reviewer"])):
        session.add(User(username=username, display_name=f"{username} 老师", roles=roles,
                         password_hash=hash_password("pw-bank", "low")))  # fmt: skip
    session.commit()
    session.close()
    engine.dispose()
    server = LiveServer(url, tmp_path / "instance").start()
    try:
        yield server, url
    finally:
        server.stop()


def staff_login(page: object, base: str, username: str) -> None:
    page.goto(f"{base}/staff/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", "pw-bank")  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


def test_author_writes_and_reviewer_approves(live: tuple[LiveServer, str], tmp_path: Path) -> None:
    server, url = live
    base = server.url
    image = tmp_path / "fire-door.png"
    image.write_bytes(PNG)
    with chromium_browser() as browser:
        author = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        staff_login(author, base, "author")
        author.wait_for_url(f"{base}/bank/items")
        author.click("text=新建试题")
        author.fill("#f-stem", "巡逻时发现防火门被杂物堵住，保安员应当（ ）。")
        options = author.locator('input[name="option"]')
        for i, text in enumerate(["绕开继续巡逻", "立即清理并报告", "拍照发朋友圈", "等下一班处理"]):
            options.nth(i).fill(text)
        # The preview shows the candidate's screen while the key is still missing, and says so.
        author.wait_for_selector("#preview .q-stem:has-text('防火门被杂物堵住')")
        author.wait_for_selector("#live-problems li.error:has-text('缺少答案')")
        author.locator('input[name="key"][value="B"]').check()
        author.select_option("#f-area", label="　　2.2.1 巡逻（5级）")
        author.set_input_files("#f-upload", str(image))
        author.wait_for_selector("#media-list figure img")
        author.wait_for_selector("#live-problems li.ok-line")
        preview_options = author.locator("#preview .option .opt-text").all_inner_texts()
        assert preview_options == ["绕开继续巡逻", "立即清理并报告", "拍照发朋友圈", "等下一班处理"]
        assert author.locator("#preview img.q-media").count() == 1
        author.screenshot(path=str(tmp_path / "editor.png"))
        author.click("button[name=submit][value='1']")
        author.wait_for_selector(".flash:has-text('并提交审核')")
        external_id = author.locator("h1").inner_text().split()[0]
        assert "待审核" in author.locator(".bank-head .badge").inner_text()

        reviewer = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
        staff_login(reviewer, base, "reviewer")
        reviewer.wait_for_url(f"{base}/bank/review")
        card = reviewer.locator(".queue-item", has_text=external_id)
        assert "立即清理并报告" in card.locator("li.correct").inner_text()
        card.locator('input[name="version_id"]').check()
        reviewer.click("button[value=approve]")
        reviewer.wait_for_selector(".flash:has-text('完成 1 题')")
        reviewer.goto(f"{base}/bank/items/{external_id}")
        assert "已通过" in reviewer.locator(".bank-head .badge").inner_text()
        assert reviewer.locator("img.q-media").count() == 1

    from item_bank.models import ItemVersion

    engine = make_engine(url)
    session = make_session_factory(engine)()
    version = session.scalar(select(ItemVersion))
    assert version is not None
    assert (version.status, version.key, len(version.media)) == ("approved", "B", 1)
    assert version.author_id != version.reviewer_id
    session.close()
    engine.dispose()
