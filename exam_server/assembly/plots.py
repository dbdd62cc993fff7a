"""PNG plots for form review: the test information curves of parallel forms and the difficulty spread.

Rendered server-side with matplotlib (Agg) and a CJK font from Debian, so the review screen and the CLI
report need nothing from the browser.
"""

from __future__ import annotations

import io
from functools import lru_cache
from types import ModuleType

from exam_server.core.fonts import matplotlib_cjk_font
from item_bank.form_review import THETA_GRID, FormReview

CJK_FONTS = ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "Noto Sans CJK JP")


@lru_cache(maxsize=1)
def _pyplot() -> ModuleType:
    """pyplot on the Agg backend, imported at the first plot rather than with this module (about half a
    second): the assembly screens import this module, and a restarted exam server must listen again soon."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede pyplot
    import matplotlib.pyplot as plt

    return plt


def _font_family() -> list[str]:
    # One CJK family, then the default for Latin glyphs (listing several CJK ones only adds warnings).
    cjk = matplotlib_cjk_font(CJK_FONTS)  # matplotlib is loaded by _pyplot() first, see there
    return [cjk, "DejaVu Sans"] if cjk else ["DejaVu Sans"]


def review_png(review: FormReview) -> bytes:
    """Left: information curves of this form and its parallel forms with the blueprint's targets.
    Right: mean difficulty p of each parallel form against the band, or p of this form's items."""
    plt = _pyplot()
    with plt.rc_context({"font.family": _font_family(), "axes.unicode_minus": False}):
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
        spec = review.spec
        code = review.form.code
        if review.curves:
            for other, values in review.curves.items():
                mine = other == code
                left.plot(
                    THETA_GRID,
                    values,
                    color="#0b57d0" if mine else "#9aa0a6",
                    linewidth=2.5 if mine else 1.0,
                    label=other if mine else None,
                    zorder=3 if mine else 2,
                )
            if len(review.curves) > 1:
                left.plot([], [], color="#9aa0a6", linewidth=1.0, label="其他平行卷")
            info = spec.information
            if info is not None:
                lo = [t * (1 - info.tolerance) for t in info.targets]
                hi = [t * (1 + info.tolerance) for t in info.targets]
                left.errorbar(
                    info.thetas,
                    info.targets,
                    yerr=[
                        [t - a for t, a in zip(info.targets, lo, strict=True)],
                        [b - t for t, b in zip(info.targets, hi, strict=True)],
                    ],
                    fmt="o",
                    color="#b3261e",
                    capsize=5,
                    label=f"目标 ±{info.tolerance:.0%}",
                    zorder=4,
                )
            left.set_xlabel("能力 θ")
            left.set_ylabel("测验信息量")
            left.set_title("测验信息函数")
            left.legend(loc="best", fontsize=9)  # "upper right" sat on the curve's peak
            left.grid(alpha=0.3)
        else:
            left.axis("off")
            left.text(
                0.5,
                0.5,
                "本卷题目没有 IRT 参数\n（积累作答数据并完成项目分析后可显示信息函数）",
                ha="center",
                va="center",
                fontsize=12,
                color="#5a5a5a",
            )
        means = [f["mean_p"] for f in review.group_measured["forms"]]
        if len(review.group) > 1 and all(m is not None for m in means):
            labels = [f.code.rsplit("-", 1)[-1] for f in review.group]
            colors = ["#0b57d0" if f.id == review.form.id else "#9aa0a6" for f in review.group]
            right.bar(labels, means, color=colors)
            if spec.difficulty is not None:
                right.axhspan(
                    spec.difficulty.p_min,
                    spec.difficulty.p_max,
                    color="#e6f4ea",
                    zorder=0,
                    label="蓝图难度区间",
                )
                right.legend(loc="upper left", fontsize=9)
            low = min(means + ([spec.difficulty.p_min] if spec.difficulty else []))
            high = max(means + ([spec.difficulty.p_max] if spec.difficulty else []))
            right.set_ylim(max(0.0, low - 0.05), min(1.0, high + 0.05))
            right.set_xlabel("平行卷")
            right.set_ylabel("平均难度 p")
            right.set_title("各平行卷平均难度")
        else:
            ps = [r.p for r in review.records if r.p is not None]
            if ps:
                right.hist(ps, bins=[i / 20 for i in range(21)], color="#0b57d0")
                if spec.difficulty is not None:
                    right.axvspan(spec.difficulty.p_min, spec.difficulty.p_max, color="#e6f4ea", zorder=0)
                right.set_xlabel("难度 p（答对率）")
                right.set_ylabel("题数")
                right.locator_params(axis="y", integer=True)  # counts of items, not 0.5 steps
                right.set_title(f"题目难度分布（平均 {sum(ps) / len(ps):.3f}）")
            else:
                right.axis("off")
                right.text(
                    0.5, 0.5, "本卷题目还没有难度估计", ha="center", va="center", fontsize=12, color="#5a5a5a"
                )
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()
