"""Classical item analysis of one form: difficulty, discrimination, distractors, reliability, flags.

Input is a persons × items score matrix (0/1 or partial points; NaN = the item was not presented),
as a numpy array or a pandas frame whose columns name the items. Choice data, when given, is a
matrix of the same shape holding option letters ("B", "ACD", None) or the bitmasks of
`scoring.rules`, with one key per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scoring.rules import LETTERS, letters_to_mask

UPPER_LOWER_FRACTION = 0.27


@dataclass(frozen=True)
class FlagThresholds:
    """When an item is sent back to the bank for review."""

    p_min: float = 0.2
    p_max: float = 0.95
    r_min: float = 0.15
    # A distractor is flagged when the upper group chooses it more than the lower group by over this margin.
    upper_distractor: bool = True
    distractor_margin: float = 0.0
    # A distractor chosen by more of the upper group than the key suggests the key is wrong.
    miskey: bool = True
    group_fraction: float = UPPER_LOWER_FRACTION


@dataclass(frozen=True)
class ItemAnalysis:
    """Everything `item_analysis` computes for one form, as pandas tables."""

    items: pd.DataFrame
    distractors: pd.DataFrame
    form: pd.Series
    histogram: pd.DataFrame
    flags: pd.DataFrame
    thresholds: FlagThresholds = field(default_factory=FlagThresholds)


def _score_matrix(scores: Any) -> tuple[np.ndarray, list[Any]]:
    if isinstance(scores, pd.DataFrame):
        labels = list(scores.columns)
        arr = scores.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = np.asarray(scores, dtype=np.float64)
        labels = list(range(arr.shape[1])) if arr.ndim == 2 else []
    if arr.ndim != 2:
        raise ValueError(f"成绩矩阵应为二维（persons × items expected, got {arr.ndim}-d）")
    return arr, labels


def _max_points(x: np.ndarray, max_points: Any) -> np.ndarray:
    if max_points is None:
        # Without stated maxima, the best observed score stands in (1 for a dichotomous item).
        with np.errstate(all="ignore"):
            observed = np.nanmax(np.where(np.isnan(x), -np.inf, x), axis=0)
        return np.where(np.isfinite(observed) & (observed > 0), observed, 1.0)
    mp = np.broadcast_to(np.asarray(max_points, dtype=np.float64), (x.shape[1],)).copy()
    if np.any(mp <= 0):
        raise ValueError("每题满分必须大于 0（max points must be positive）")
    return mp


def _choice_masks(chosen: Any, shape: tuple[int, int]) -> np.ndarray:
    arr = chosen.to_numpy() if isinstance(chosen, pd.DataFrame) else np.asarray(chosen)
    if arr.shape != shape:
        raise ValueError(f"选项矩阵形状 {arr.shape} 与成绩矩阵 {shape} 不一致（chosen must match scores）")
    if arr.dtype.kind in "iu":
        return arr.astype(np.uint32)
    flat = [letters_to_mask(v if isinstance(v, str) else None) for v in arr.ravel()]
    return np.asarray(flat, dtype=np.uint32).reshape(shape)


def _key_masks(keys: Sequence[Any], n_items: int) -> np.ndarray:
    """One mask per item; None or "" marks an item without options (fill-in, essay), left out of distractors."""
    masks = np.asarray(
        [k if isinstance(k, int | np.integer) else letters_to_mask(k) for k in keys], dtype=np.uint32
    )
    if masks.shape != (n_items,):
        raise ValueError(f"需要每题一个答案（one key per item; got {len(masks)} for {n_items} items）")
    return masks


def totals(scores: Any) -> np.ndarray:
    """Each person's total over the items presented to them."""
    x, _ = _score_matrix(scores)
    return np.nansum(x, axis=1)


def upper_lower_groups(
    total: np.ndarray, fraction: float = UPPER_LOWER_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the top and bottom `fraction` of persons by total; ties at the cut go by row order."""
    n = len(total)
    if not 0 < fraction <= 0.5:
        raise ValueError(f"分组比例应在 (0, 0.5] 之间（fraction must be in (0, 0.5]: {fraction}）")
    size = max(1, int(np.floor(fraction * n + 0.5))) if n else 0
    order = np.argsort(total, kind="stable")
    lower, upper = np.zeros(n, bool), np.zeros(n, bool)
    lower[order[:size]] = True
    upper[order[n - size :]] = True
    return upper, lower


def item_statistics(scores: Any, max_points: Any = None, chosen: Any = None) -> pd.DataFrame:
    """Per item: n presented, mean score, p (mean/max), corrected item-total r, and omission rate if choices are given.

    The corrected r is the Pearson (point-biserial for 0/1) correlation of the item with the total of
    the other items, over the persons who were presented the item.
    """
    x, labels = _score_matrix(scores)
    presented = ~np.isnan(x)
    m = presented.astype(np.float64)
    x0 = np.where(presented, x, 0.0)
    mp = _max_points(x, max_points)
    total = x0.sum(axis=1)
    n = m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x0.sum(axis=0) / n
        # Moments of y = total - item over each item's presented persons, from matrix products.
        sx, sxx = x0.sum(axis=0), (x0 * x0).sum(axis=0)
        xt = x0.T @ total
        sy = m.T @ total - sx
        syy = m.T @ (total * total) - 2 * xt + sxx
        sxy = xt - sxx
        cov = sxy / n - (sx / n) * (sy / n)
        var_x = sxx / n - (sx / n) ** 2
        var_y = syy / n - (sy / n) ** 2
        r = cov / np.sqrt(var_x * var_y)
    r = np.where((var_x > 1e-12) & (var_y > 1e-12), r, np.nan)
    out = pd.DataFrame(
        {"n": n.astype(int), "mean": mean, "max_points": mp, "p": mean / mp, "r_corrected": r},
        index=pd.Index(labels, name="item"),
    )
    if chosen is not None:
        masks = _choice_masks(chosen, x.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["omit_rate"] = ((masks == 0) & presented).sum(axis=0) / n
    else:
        out["omit_rate"] = np.nan
    return out


def cronbach_alpha(scores: Any) -> float:
    """Cronbach's alpha (KR-20 for 0/1 items) over the persons who were presented every item; NaN if undefined."""
    x, _ = _score_matrix(scores)
    x = x[~np.isnan(x).any(axis=1)]
    k = x.shape[1]
    if k < 2 or x.shape[0] < 2:
        return float("nan")
    var_total = x.sum(axis=1).var(ddof=1)
    if var_total <= 0:
        return float("nan")
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / var_total))


def form_statistics(scores: Any) -> pd.Series:
    """Totals' distribution (n, mean, sd, min, quartiles, max; sd with n-1) with alpha and SEM = sd·√(1-alpha)."""
    x, _ = _score_matrix(scores)
    total = np.nansum(x, axis=1)
    alpha = cronbach_alpha(x)
    n = len(total)
    sd = float(total.std(ddof=1)) if n > 1 else float("nan")
    q = np.percentile(total, [0, 25, 50, 75, 100]) if n else [np.nan] * 5
    return pd.Series(
        {
            "n_persons": n,
            "n_items": x.shape[1],
            "mean": float(total.mean()) if n else float("nan"),
            "sd": sd,
            "min": float(q[0]),
            "q1": float(q[1]),
            "median": float(q[2]),
            "q3": float(q[3]),
            "max": float(q[4]),
            "alpha": alpha,
            "sem": sd * float(np.sqrt(1 - alpha)) if not np.isnan(alpha) else float("nan"),
        }
    )


def score_histogram(total: np.ndarray, bins: int | Sequence[float] = 10) -> pd.DataFrame:
    """Counts of totals per bin (numpy's convention: each bin half-open except the last)."""
    counts, edges = np.histogram(np.asarray(total, dtype=np.float64), bins=bins)
    return pd.DataFrame({"bin_left": edges[:-1], "bin_right": edges[1:], "count": counts})


DISTRACTOR_COLUMNS = [
    "item",
    "item_index",
    "option",
    "is_key",
    "share",
    "share_upper",
    "share_lower",
    "upper_minus_lower",
    "upper_distractor",
    "miskey",
]


def _empty_distractors() -> pd.DataFrame:
    return pd.DataFrame(columns=DISTRACTOR_COLUMNS)


def distractor_analysis(
    scores: Any,
    chosen: Any,
    keys: Sequence[Any],
    fraction: float = UPPER_LOWER_FRACTION,
) -> pd.DataFrame:
    """Per item × option: share choosing it overall and in the upper and lower groups by total score.

    Shares are over the persons presented the item (a multiple-response option counts when it is
    among the letters chosen); items whose key is None have no options and no rows. `upper_distractor` marks a wrong option the upper group chooses more than
    the lower; `miskey` a wrong option the upper group chooses more than the (least chosen) key.
    """
    x, labels = _score_matrix(scores)
    masks = _choice_masks(chosen, x.shape)
    key_masks = _key_masks(keys, x.shape[1])
    presented = ~np.isnan(x)
    upper, lower = upper_lower_groups(np.nansum(x, axis=1), fraction)
    seen = np.bitwise_or.reduce(masks, axis=0) | key_masks
    n_options = np.array([int(v).bit_length() if k else 0 for v, k in zip(seen, key_masks, strict=True)])

    def shares(bits: np.ndarray, group: np.ndarray) -> np.ndarray:
        rows = presented & group[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (bits & rows).sum(axis=0) / rows.sum(axis=0)

    frames = []
    for k in range(int(n_options.max(initial=0))):
        bits = ((masks >> k) & 1).astype(bool)
        has = n_options > k
        frames.append(
            pd.DataFrame(
                {
                    "item": np.asarray(labels, dtype=object)[has],
                    "item_index": np.flatnonzero(has),
                    "option": LETTERS[k],
                    "is_key": ((key_masks >> k) & 1).astype(bool)[has],
                    "share": shares(bits, np.ones(len(x), bool))[has],
                    "share_upper": shares(bits, upper)[has],
                    "share_lower": shares(bits, lower)[has],
                }
            )
        )
    if not frames:
        return _empty_distractors()
    out = pd.concat(frames, ignore_index=True).sort_values(["item_index", "option"], ignore_index=True)
    out["upper_minus_lower"] = out["share_upper"] - out["share_lower"]
    out["upper_distractor"] = ~out["is_key"] & (out["upper_minus_lower"] > 0)
    key_upper = out[out["is_key"]].groupby("item_index")["share_upper"].min()
    out["miskey"] = ~out["is_key"] & (out["share_upper"] > out["item_index"].map(key_upper))
    return out


def flag_items(
    items: pd.DataFrame,
    distractors: pd.DataFrame | None = None,
    thresholds: FlagThresholds | None = None,
) -> pd.DataFrame:
    """One row per reason an item needs review (columns item, code, reason in Chinese), in item order."""
    t = thresholds or FlagThresholds()
    rows: list[dict[str, Any]] = []
    for pos, (item, row) in enumerate(items.iterrows()):
        p, r = row["p"], row["r_corrected"]
        if p < t.p_min:
            rows.append(
                dict(
                    pos=pos,
                    item=item,
                    code="p_low",
                    reason=f"难度 p={p:.2f} 低于 {t.p_min:g}，题目过难或答案有误",
                )
            )
        if p > t.p_max:
            rows.append(
                dict(pos=pos, item=item, code="p_high", reason=f"难度 p={p:.2f} 高于 {t.p_max:g}，题目过易")
            )
        if np.isnan(r) or r < t.r_min:
            text = "无法计算（作答无差异）" if np.isnan(r) else f"{r:.2f} 低于 {t.r_min:g}"
            rows.append(dict(pos=pos, item=item, code="r_low", reason=f"校正题总相关 {text}，区分度不足"))
    if distractors is not None and len(distractors):
        d = distractors
        if t.upper_distractor:
            hits = d[~d["is_key"] & (d["upper_minus_lower"] > t.distractor_margin)]
            rows += [
                dict(
                    pos=h.item_index,
                    item=h.item,
                    code="upper_distractor",
                    reason=f"干扰项 {h.option} 高分组选择率 {h.share_upper:.0%} 高于低分组 {h.share_lower:.0%}",
                )
                for h in hits.itertuples()
            ]
        if t.miskey:
            keys = (
                d[d["is_key"]]
                .groupby("item_index")
                .agg(key=("option", "".join), key_upper=("share_upper", "min"))
            )
            hits = d[d["miskey"]].join(keys, on="item_index")
            rows += [
                dict(
                    pos=h.item_index,
                    item=h.item,
                    code="miskey",
                    reason=(
                        f"干扰项 {h.option} 高分组选择率 {h.share_upper:.0%} 高于答案 {h.key}"
                        f"（{h.key_upper:.0%}），疑似答案错误"
                    ),
                )
                for h in hits.itertuples()
            ]
    order = {"p_low": 0, "p_high": 1, "r_low": 2, "upper_distractor": 3, "miskey": 4}
    rows.sort(key=lambda r: (r["pos"], order[r["code"]]))
    return pd.DataFrame(rows, columns=["pos", "item", "code", "reason"]).drop(columns="pos")


def item_analysis(
    scores: Any,
    chosen: Any = None,
    keys: Sequence[Any] | None = None,
    max_points: Any = None,
    thresholds: FlagThresholds | None = None,
    bins: int | Sequence[float] = 10,
) -> ItemAnalysis:
    """The full classical analysis of one form: item table, distractors (if choices and keys), form
    statistics, histogram of totals and review flags."""
    t = thresholds or FlagThresholds()
    x, _ = _score_matrix(scores)
    items = item_statistics(scores, max_points, chosen)
    if chosen is not None:
        if keys is None:
            raise ValueError("给出选项矩阵时需要答案（keys are needed with chosen）")
        distractors = distractor_analysis(scores, chosen, keys, t.group_fraction)
    else:
        distractors = _empty_distractors()
    return ItemAnalysis(
        items=items,
        distractors=distractors,
        form=form_statistics(x),
        histogram=score_histogram(np.nansum(x, axis=1), bins),
        flags=flag_items(items, distractors, t),
        thresholds=t,
    )
