"""The CJK font of the server-drawn plots (item analysis, form review): matplotlib's side of the fonts that
sessions/pdf.py finds for the PDFs."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=8)  # per process: the answer, and a second reading of the font folders, only once
def matplotlib_cjk_font(families: tuple[str, ...]) -> str | None:
    """The first of `families` that matplotlib finds installed, or None (the plots then fall back to DejaVu Sans).

    matplotlib lists the system's fonts the first time it runs and keeps that list on disk. A font installed later
    stayed invisible to it, and the plots kept drawing boxes for Chinese, until someone deleted that cache by hand.
    This happens when an operator installs fonts-wqy-zenhei as the error pages tell them to. So when none of `families` is
    listed, the system's font folders are read once more and what is new is added before giving up.
    """
    from matplotlib import font_manager  # the callers load matplotlib on first use, on the Agg backend

    manager = font_manager.fontManager
    found = _first_listed(families, manager)
    if found is None:
        known = {entry.fname for entry in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    manager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # a file matplotlib cannot read is no font for a plot
                    continue
        found = _first_listed(families, manager)
    return found


def _first_listed(families: Sequence[str], manager: object) -> str | None:
    listed = {entry.name for entry in manager.ttflist}  # type: ignore[attr-defined]
    return next((name for name in families if name in listed), None)
