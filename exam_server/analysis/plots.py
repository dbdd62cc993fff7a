"""The item-analysis plots as PNG bytes: item characteristic curves, distractor plots, the score
histogram and the test information function, with Chinese labels.

Figures are built with matplotlib's object API on the Agg canvas (never pyplot), so drawing keeps no
global state and is safe from any worker or greenlet.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from exam_server.analysis.compute import FormAnalysis, SessionAnalysis
from exam_server.core.fonts import matplotlib_cjk_font

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Debian's fonts-noto-cjk first, then fonts-wqy-zenhei; without either the labels fall back to
# DejaVu Sans and Chinese characters show as boxes, but the plot is still drawn.
CJK_FONTS = ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "Noto Serif CJK SC", "Source Han Sans SC", "SimHei")
COLOURS = ("#0b57d0", "#b06000", "#137333", "#8e24aa", "#00838f", "#6d4c41", "#5f6368", "#c2185b")
KEY_COLOUR = "#1b1b1b"
THETA = np.linspace(-4, 4, 161)
SCORE_GROUPS = 5
ICC_GROUPS = 10


# ---------------------------------------------------------------- what the plots show


def distractor_curves(f: FormAnalysis, version_id: int) -> tuple[list[str], dict[str, list[float]]]:
    """Share choosing each option (and omitting, "-") in each of five total-score groups, lowest first."""
    it = f.item(version_id)
    c = [i.version_id for i in f.data.items].index(version_id)
    order = np.argsort(f.totals, kind="stable")
    groups = [g for g in np.array_split(order, SCORE_GROUPS) if len(g)]
    labels = []
    for g in groups:
        lo, hi = f.totals[g].min(), f.totals[g].max()
        labels.append(f"{lo:g}-{hi:g}分\n{len(g)}人")
    shares: dict[str, list[float]] = {}
    letters = [chr(65 + k) for k in range(it.n_options)] if it.has_options else []
    for letter in letters:
        shares[letter] = [
            float(np.mean([isinstance(v, str) and letter in v for v in f.data.chosen[g, c]])) for g in groups
        ]
    shares["-"] = [float(f.data.omitted[g, c].mean()) for g in groups]
    return labels, shares


def empirical_icc(
    analysis: SessionAnalysis, f: FormAnalysis, version_id: int
) -> tuple[list[float], list[float], list[int], bool]:
    """Observed share of full credit per ability group: (x, y, n, x is θ). Groups by EAP θ when an
    IRT model was fitted, else by total score."""
    c = [i.version_id for i in f.data.items].index(version_id)
    it = f.data.items[c]
    right = (f.data.scores[:, c] >= it.points - 1e-9).astype(float)
    by_theta = analysis.irt.fitted
    x = analysis.irt.theta.reindex(f.data.attempt_ids).to_numpy() if by_theta else f.totals
    order = np.argsort(x, kind="stable")
    xs, ys, ns = [], [], []
    for g in np.array_split(order, ICC_GROUPS):
        if len(g):
            xs.append(float(np.mean(x[g])))
            ys.append(float(right[g].mean()))
            ns.append(len(g))
    return xs, ys, ns, by_theta


# ---------------------------------------------------------------- drawing


@lru_cache(maxsize=1)
def _matplotlib() -> ModuleType:
    """matplotlib on the Agg backend, imported at the first plot rather than with this module (about half a
    second): the analysis web domain imports this module, and a restarted exam server must listen again
    within seconds."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede any backend import
    return matplotlib


def cjk_font() -> str | None:
    """The first installed CJK font family matplotlib knows, or None."""
    _matplotlib()
    return matplotlib_cjk_font(CJK_FONTS)


def _rc() -> dict[str, object]:
    font = cjk_font()
    return {
        "font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
        "axes.unicode_minus": False,
        "font.size": 10,
    }


def _draw(width: float, height: float) -> tuple[Figure, dict[str, object]]:
    """A blank figure and the rc settings every text of it must be created and drawn under."""
    _matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.set_facecolor("white")
    return fig, _rc()


def _png(fig: Figure) -> bytes:
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def _style(ax: Axes) -> None:
    ax.grid(True, color="#e0e3e7", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)


def icc_png(
    title: str,
    *,
    model: tuple[float, float, float] | None,
    observed_x: Sequence[float],
    observed_y: Sequence[float],
    observed_n: Sequence[int],
    x_label: str = "能力 θ",
    y_label: str = "答对概率",
) -> bytes:
    """Item characteristic curve: the fitted P(θ) (if any) and the observed share right per ability group."""
    fig, rc = _draw(6.0, 3.8)
    with _matplotlib().rc_context(rc):
        ax = fig.add_subplot()
        if model is not None:
            a, b, c = model
            p = c + (1 - c) / (1 + np.exp(-a * (THETA - b)))
            ax.plot(
                THETA, p, color=COLOURS[0], linewidth=2.2, label=f"模型曲线 a={a:.2f} b={b:.2f} c={c:.2f}"
            )
            if -4 <= b <= 4:
                ax.axvline(b, color=COLOURS[0], linewidth=0.8, linestyle=":")
        n = np.asarray(observed_n, dtype=float)
        if len(n):
            sizes = 20 + 180 * n / max(n.max(), 1)
            ax.scatter(
                observed_x,
                observed_y,
                s=sizes,
                color=COLOURS[1],
                alpha=0.85,
                zorder=3,
                edgecolors="white",
                label="实际答对比例（按能力分组，点大小=人数）",
            )
        ax.set_ylim(-0.03, 1.03)
        if model is not None:
            ax.set_xlim(-4, 4)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title(title)
        _style(ax)
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
        return _png(fig)


def distractor_png(
    title: str,
    *,
    groups: Sequence[str],
    shares: Mapping[str, Sequence[float]],
    key: str,
) -> bytes:
    """Share choosing each option (and omitting) across score groups, lowest to highest; keys solid (a single
    key in black), distractors dashed."""
    fig, rc = _draw(6.0, 3.8)
    with _matplotlib().rc_context(rc):
        ax = fig.add_subplot()
        x = np.arange(len(groups))
        several_keys = len(key or "") > 1
        for i, (option, values) in enumerate(shares.items()):
            is_key = option in (key or "")
            label = f"{option}（答案）" if is_key else ("未答" if option == "-" else option)
            if option == "-":
                colour = "#9aa0a6"
            elif is_key and not several_keys:
                colour = KEY_COLOUR
            else:
                # Several keyed options (multiple response) each keep a colour, told apart from the
                # distractors by their solid lines.
                colour = COLOURS[i % len(COLOURS)]
            ax.plot(
                x,
                values,
                marker="o",
                linewidth=2.6 if is_key else 1.5,
                color=colour,
                linestyle="-" if is_key else ("--" if option != "-" else ":"),
                label=label,
            )
        ax.set_xticks(x, list(groups))
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("总分分组（低 → 高）")
        ax.set_ylabel("选择比例")
        ax.set_title(title)
        _style(ax)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
        return _png(fig)


def histogram_png(
    title: str,
    *,
    edges: Sequence[float],
    counts: Sequence[int],
    mean: float | None = None,
    pass_mark: float | None = None,
) -> bytes:
    """Distribution of total scores as bars, with the mean and the pass mark marked."""
    fig, rc = _draw(6.4, 3.6)
    with _matplotlib().rc_context(rc):
        ax = fig.add_subplot()
        e = np.asarray(edges, dtype=float)
        ax.bar(e[:-1], counts, width=np.diff(e), align="edge", color=COLOURS[0], edgecolor="white", alpha=0.9)
        if mean is not None and np.isfinite(mean):
            ax.axvline(mean, color=COLOURS[1], linewidth=2, label=f"平均分 {mean:.1f}")
        if pass_mark is not None:
            ax.axvline(pass_mark, color="#b3261e", linewidth=2, linestyle="--", label=f"合格线 {pass_mark:g}")
        ax.set_xlabel("总分")
        ax.set_ylabel("人数")
        ax.set_title(title)
        _style(ax)
        if mean is not None or pass_mark is not None:
            ax.legend(loc="upper left", fontsize=9, frameon=False)
        return _png(fig)


def test_information(a: np.ndarray, b: np.ndarray, c: np.ndarray, theta: np.ndarray = THETA) -> np.ndarray:
    """Sum over items of the 3PL Fisher information at each θ (D = 1, the metric of scoring.irt)."""
    a, b, c = (np.asarray(v, dtype=float)[:, None] for v in (a, b, c))
    p = c + (1 - c) / (1 + np.exp(-a * (theta[None, :] - b)))
    info = a**2 * ((p - c) / (1 - c)) ** 2 * (1 - p) / p
    return info.sum(axis=0)


def information_png(title: str, *, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bytes:
    """Test information I(θ) of the items given, with the conditional standard error 1/√I(θ)."""
    fig, rc = _draw(6.4, 3.6)
    with _matplotlib().rc_context(rc):
        ax = fig.add_subplot()
        info = test_information(a, b, c)
        ax.plot(THETA, info, color=COLOURS[0], linewidth=2.2, label="测验信息量 I(θ)")
        ax.set_xlabel("能力 θ")
        ax.set_ylabel("信息量")
        ax.set_xlim(-4, 4)
        ax.set_title(title)
        _style(ax)
        se_ax = ax.twinx()
        with np.errstate(divide="ignore"):
            se = 1 / np.sqrt(info)
        se_ax.plot(THETA, se, color=COLOURS[1], linewidth=1.6, linestyle="--", label="测量标准误 1/√I(θ)")
        se_ax.set_ylabel("标准误")
        finite = se[np.isfinite(se)]
        se_ax.set_ylim(0, min(float(finite.max()) if len(finite) else 2.0, 2.0) * 1.05)
        se_ax.spines[["top"]].set_visible(False)
        lines = ax.get_lines() + se_ax.get_lines()
        ax.legend(
            lines,
            [ln.get_label() for ln in lines],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncol=2,
            fontsize=8,
            frameon=False,
        )
        return _png(fig)


# ---------------------------------------------------------------- the plots of an analysis


def form_histogram(analysis: SessionAnalysis, form: FormAnalysis) -> bytes:
    """A form's score histogram with its mean and the pass mark in raw points."""
    hist = form.ctt.histogram
    return histogram_png(
        f"试卷 {form.form_code} 总分分布（{len(form.totals)} 人）",
        edges=[*hist["bin_left"], hist["bin_right"].iloc[-1]],
        counts=list(hist["count"]),
        mean=float(np.mean(form.totals)) if len(form.totals) else None,
        pass_mark=analysis.pass_mark * form.data.max_total / 100,
    )


def form_information(analysis: SessionAnalysis, form: FormAnalysis) -> bytes | None:
    """A form's test information from the session's IRT estimates (items with a > 0), or None without a fit."""
    if not analysis.irt.fitted:
        return None
    p = analysis.irt.params.reindex([it.version_id for it in form.data.items]).dropna(subset=["a", "b"])
    p = p[p["a"] > 0]
    return information_png(
        f"试卷 {form.form_code} 测验信息函数（{analysis.irt.model.upper()}，{len(p)} 题）",
        a=p["a"].to_numpy(),
        b=p["b"].to_numpy(),
        c=p["c"].fillna(0.0).to_numpy(),
    )


def item_icc(analysis: SessionAnalysis, form: FormAnalysis, version_id: int) -> bytes:
    """An item's fitted characteristic curve with the observed share of full credit per ability group."""
    item = form.item(version_id)
    model = None
    if analysis.irt.fitted and version_id in analysis.irt.params.index:
        row = analysis.irt.params.loc[version_id]
        model = (float(row["a"]), float(row["b"]), float(row["c"]))
    xs, ys, ns, by_theta = empirical_icc(analysis, form, version_id)
    return icc_png(
        f"第 {item.position} 题 {item.external_id} 项目特征曲线",
        model=model,
        observed_x=xs,
        observed_y=ys,
        observed_n=ns,
        x_label="能力 θ" if by_theta else "总分",
    )


def item_distractors(form: FormAnalysis, version_id: int) -> bytes:
    """An item's option shares across five total-score groups."""
    item = form.item(version_id)
    groups, shares = distractor_curves(form, version_id)
    return distractor_png(
        f"第 {item.position} 题 {item.external_id} 选项分析（答案 {item.key_text}）",
        groups=groups,
        shares=shares,
        key=item.key_text if item.has_options else "",
    )
