"""The report's plots: score distributions (counts per 10-point band, per level and part) and pass-rate trends
(per month, per level), as PNG or SVG drawn on the server with the item analysis's matplotlib set-up
(object API, Agg, the CJK font from Debian), so a page needs nothing from outside."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from exam_server.analysis.plots import COLOURS, _draw, _matplotlib, _style
from exam_server.reports.figures import BINS, LEVEL_NAMES, rate
from exam_server.reports.tables import BIN_LABELS, _dist_order

KINDS = ("distribution", "trend")
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def _output(fig: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "svg":
        from matplotlib.backends.backend_svg import FigureCanvasSVG

        FigureCanvasSVG(fig).print_svg(buf)
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def distribution_plot(report: dict[str, Any], fmt: str = "png") -> bytes:
    """Bars of how many scored in each 10-point band, one colour per level and part; the pass line at 60."""
    dist = sorted(report.get("distribution", {}).items(), key=_dist_order)
    fig, rc = _draw(7.5, 4.0)
    with _matplotlib().rc_context(rc):
        ax = fig.add_subplot()
        x = np.arange(BINS)
        width = 0.8 / max(len(dist), 1)
        for i, (_key, d) in enumerate(dist):
            ax.bar(x + (i - (len(dist) - 1) / 2) * width, d["bins"], width=width, color=COLOURS[i % len(COLOURS)],
                   label=f"{d['label']}（{sum(d['bins'])} 人）")
        ax.axvline(5.5, color="#c5221f", linewidth=1, linestyle="--", label="合格线 60 分")
        ax.set_xticks(x, [label.replace("分", "") for label in BIN_LABELS], fontsize=8)
        ax.set_xlabel("分数段")
        ax.set_ylabel("人数")
        from matplotlib.ticker import MaxNLocator  # after _matplotlib() chose the backend

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # people come whole
        ax.set_title("成绩分布" if dist else "成绩分布（本区间没有成绩）")
        _style(ax)
        if dist:
            ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
        return _output(fig, fmt)


def trend_plot(report: dict[str, Any], fmt: str = "png") -> bytes:
    """Pass rate (passed / scored) per month, one line per level."""
    points = report.get("trend", [])
    months = sorted({p["month"] for p in points})
    levels = sorted({p["level"] for p in points}, key=lambda lv: -int(lv))
    fig, rc = _draw(7.5, 3.8)
    with _matplotlib().rc_context(rc):
        ax = fig.add_subplot()
        for i, level in enumerate(levels):
            by_month = {p["month"]: p for p in points if p["level"] == level}
            ys = [rate(by_month[m]["passed"], by_month[m]["scored"]) if m in by_month else None for m in months]
            xs = [j for j, y in enumerate(ys) if y is not None]
            ax.plot(xs, [ys[j] * 100 for j in xs], marker="o", color=COLOURS[i % len(COLOURS)],
                    label=LEVEL_NAMES.get(int(level), level))
        ax.set_xticks(range(len(months)), months, fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("合格率（%）")
        ax.set_xlabel("月份")
        ax.set_title("合格率趋势" if points else "合格率趋势（本区间没有成绩）")
        _style(ax)
        if levels:
            ax.legend(loc="lower left", fontsize=8, framealpha=0.85)
        return _output(fig, fmt)


def plot(report: dict[str, Any], kind: str, fmt: str) -> bytes:
    return (distribution_plot if kind == "distribution" else trend_plot)(report, fmt)
