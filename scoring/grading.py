"""Combining people's marks: double marking with adjudication, defence panels, grader agreement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported by grader_agreement on first use: the exam server imports this module when it
# starts, and a restarted exam server must listen again within seconds.

# Marks come in half points, but 8.3 - 6.3 is 2.0000000000000009 in binary floating point.
_EPS = 1e-9

PANEL_MIN, PANEL_MAX = 3, 5


def _marks(marks: Sequence[float], what: str) -> np.ndarray:
    arr = np.asarray(marks, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or np.isnan(arr).any():
        raise ValueError(
            f"{what}必须是非空的分数列表（{what.strip()} must be a non-empty list of numbers）: {marks!r}"
        )
    return arr


def needs_adjudication(mark1: float, mark2: float, tolerance: float) -> bool:
    """True when two independent marks differ by more than the tolerance (a difference equal to it is fine)."""
    if tolerance < 0:
        raise ValueError(f"允许误差不能为负（tolerance must be >= 0: {tolerance}）")
    return abs(float(mark1) - float(mark2)) - tolerance > _EPS


def final_mark(
    marks: Sequence[float],
    rule: Literal["mean", "adjudicated"] = "mean",
    adjudicated: float | None = None,
) -> float:
    """The task's final mark: the mean of the independent marks, or the chief grader's adjudicated mark."""
    arr = _marks(marks, "评分")
    if rule == "mean":
        if adjudicated is not None:
            raise ValueError("规则为取平均时不使用仲裁分（rule 'mean' takes no adjudicated mark）")
        return float(arr.mean())
    if rule == "adjudicated":
        if adjudicated is None:
            raise ValueError("规则为取仲裁分，但没有仲裁分（rule 'adjudicated' needs the adjudicated mark）")
        return float(adjudicated)
    raise ValueError(f"未知的合分规则 {rule!r}（unknown rule; use 'mean' or 'adjudicated'）")


def panel_score(scores: Sequence[float], rule: Literal["mean", "trimmed_mean"] = "mean") -> float:
    """A defence panel's score from its 3-5 members: the mean, or the mean without one highest and one lowest."""
    arr = _marks(scores, "评委评分")
    if not PANEL_MIN <= arr.size <= PANEL_MAX:
        raise ValueError(
            f"答辩评委应为 {PANEL_MIN}-{PANEL_MAX} 人，实际 {arr.size} 人"
            f"（a defence panel needs {PANEL_MIN}-{PANEL_MAX} members, got {arr.size}）"
        )
    if rule == "mean":
        return float(arr.mean())
    if rule == "trimmed_mean":
        return float(np.sort(arr)[1:-1].mean())
    raise ValueError(f"未知的评委合分规则 {rule!r}（unknown rule; use 'mean' or 'trimmed_mean'）")


def grader_agreement(marks: pd.DataFrame, tolerance: float = 1.0) -> pd.DataFrame:
    """Per grader: n paired marks, exact and adjacent (|diff| <= tolerance) agreement rates, Pearson r and
    mean difference against the other marker(s) of the same tasks.

    `marks` has columns task, grader, mark; every other mark on the same task is a pair, so with double
    marking each mark is compared with the other marker's.
    """
    import pandas as pd

    missing = {"task", "grader", "mark"} - set(marks.columns)
    if missing:
        raise ValueError(f"缺少列 {sorted(missing)}（grader_agreement needs columns task, grader, mark）")
    data = marks[["task", "grader", "mark"]].dropna(subset=["mark"])
    if data.duplicated(["task", "grader"]).any():
        dup = data.loc[data.duplicated(["task", "grader"], keep=False), ["task", "grader"]]
        raise ValueError(f"同一评卷人对同一任务有多个评分（duplicate marks）: {dup.to_dict('records')[:5]}")
    pairs = data.merge(data, on="task", suffixes=("", "_other"))
    pairs = pairs[pairs["grader"] != pairs["grader_other"]]
    diff = pairs["mark"] - pairs["mark_other"]
    pairs = pairs.assign(
        exact=diff.abs() <= _EPS,
        adjacent=diff.abs() - tolerance <= _EPS,
        diff=diff,
    )

    def pearson(g: pd.DataFrame) -> float:
        if len(g) < 2 or g["mark"].std() == 0 or g["mark_other"].std() == 0:
            return float("nan")
        return float(np.corrcoef(g["mark"], g["mark_other"])[0, 1])

    grouped = pairs.groupby("grader", sort=True)
    out = pd.DataFrame(
        {
            "n": grouped.size(),
            "exact": grouped["exact"].mean(),
            "adjacent": grouped["adjacent"].mean(),
            "pearson_r": grouped[["mark", "mark_other"]].apply(pearson),
            "mean_diff": grouped["diff"].mean(),
        }
    )
    out.index.name = "grader"
    return out
