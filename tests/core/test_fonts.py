"""The plots find a CJK font installed after matplotlib first listed the system's fonts (exam_server/core/fonts.py)."""

from __future__ import annotations

import pytest
from matplotlib import font_manager

from exam_server.analysis import plots
from exam_server.core.fonts import matplotlib_cjk_font


def test_a_font_installed_after_matplotlib_listed_the_fonts_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    matplotlib_cjk_font.cache_clear()
    installed = matplotlib_cjk_font(plots.CJK_FONTS)
    if installed is None:
        pytest.fail("no CJK font on this machine (apt-get install fonts-wqy-zenhei fonts-noto-cjk)")
    # matplotlib's list as it was before the font was installed: without the files of any CJK family.
    cjk_files = {entry.fname for entry in font_manager.fontManager.ttflist if entry.name in plots.CJK_FONTS}
    stale = [entry for entry in font_manager.fontManager.ttflist if entry.fname not in cjk_files]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    matplotlib_cjk_font.cache_clear()  # as in a new server process
    try:
        assert plots.cjk_font() == installed  # what the item-analysis plots use
    finally:
        matplotlib_cjk_font.cache_clear()
    assert installed in {entry.name for entry in font_manager.fontManager.ttflist}


def test_no_listed_family_installed_is_none() -> None:
    assert matplotlib_cjk_font(("没有这种字体 Sans",)) is None
