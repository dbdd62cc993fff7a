"""The form review and an assembly run as plain text: what `examctl` prints, the same content as the screens."""

from __future__ import annotations

import unicodedata
from typing import Any

from item_bank.assembly import AssemblyResult
from item_bank.form_review import FormReview
from item_bank.forms import STATUS_LABELS


def assembly_lines(result: AssemblyResult) -> list[str]:
    """The short summary staff read after assembling."""
    out: list[str] = []
    rep = result.report
    sol = rep["solver"]
    measured = rep["measured"]
    out.append(
        f"求解器 {sol['name']}：{'最优' if sol['status'] == 'optimal' else '可行（达到时间限制）'}，"
        f"{objective_words(sol)}，"
        f"用时 {rep['seconds']['total']:.2f} 秒（限 {rep['time_limit_s']:.0f} 秒），模型 {sol['model']['integer_columns']} 个 0-1 变量"
    )
    out.append(f"  随机种子 {rep['seed']}（用 --seed {rep['seed']} 可重现本次结果）")
    out.extend(f"  警告：{w}" for w in rep.get("warnings", []))
    for form in result.forms:
        m = form.assembly_report["form"]
        mean_p = "-" if m["mean_p"] is None else f"{m['mean_p']:.3f}"
        info = "" if m.get("min_information") is None else f"，最小信息量 {m['min_information']:.3f}"
        out.append(
            f"  {form.code}: {m['n_items']} 题 {m['points']:g} 分，知识点比重最大偏差 {m['max_area_deviation']:.1%}，"
            f"平均难度 {mean_p}{info}，违反约束 {len(m['violations'])} 项（蓝图规则 {len(m.get('rule_checks', []))} 条逐条检查）"
        )
    if sol["status"] != "optimal":
        out.append(
            "  提示：在时间上限内未能证明最优；以上试卷满足蓝图的全部硬性要求，延长 --time-limit 可缩小差距。"
        )
    if len(result.forms) > 1:
        out.append(
            f"  平行卷两两最多重复 {measured['max_overlap']} 道（上限 {measured['overlap_limit']} 道）"
        )
    out.append(f"组卷批次 {result.group}；用 `examctl form report <试卷编号>` 查看详情。")
    return out


def objective_words(sol: dict[str, Any]) -> str:
    """The objective, its bound and the gap in the objective's own units; the requested gap as given."""
    rel = "-" if sol.get("gap") is None else f"{sol['gap']:.2%}"
    asked = f"要求相对差距 ≤ {sol['gap_limit']:g}"
    if sol.get("objective_kind") == "maximin":
        bound = "-" if sol.get("objective_bound") is None else f"{sol['objective_bound']:.3f}"
        gap = "-" if sol.get("gap_units") is None else f"{sol['gap_units']:.3f}"
        return (
            f"最优性差距 {gap} 信息量（各卷最小信息量 {sol['objective_value']:.3f}，上界 {bound}，相对 {rel}；{asked}）"
        )
    if sol.get("gap_units") is not None:
        return (
            f"最优性差距 {sol['gap_units']:.4f} 个容差（与目标的偏离 {sol['objective_value']:.4f} 个容差，"
            f"下界 {sol['objective_bound'] or 0:.4f}；{asked}）"
        )
    return f"最优性差距 {rel}（{asked}），目标值 {sol['objective']:.4f}"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def report_lines(review: FormReview) -> list[str]:
    """The form review as plain text (the same content as the review screen)."""
    form, spec = review.form, review.spec
    out = [
        f"试卷 {form.code}（{STATUS_LABELS.get(form.status, form.status)}）  蓝图「{spec.name}」 {spec.level}级 "
        f"{spec.part_label()}  {spec.item_count} 题 {spec.total_points:g} 分  {spec.duration_s // 60} 分钟",
    ]
    sol = review.solver
    if sol:
        rep = form.assembly_report
        out.append(
            f"组卷：{sol.get('name', 'HiGHS')}，{'最优' if sol.get('status') == 'optimal' else '可行解'}，{objective_words(sol)}，"
            f"用时 {rep['seconds']['total']:.1f} 秒（限 {rep['time_limit_s']:.0f} 秒），种子 {rep['seed']}，"
            f"批次 {form.assembly_group}（{len(review.group)} 份）"
        )
    out.append("")
    out.append(
        "题型："
        + "；".join(
            f"{t['label']} {t['count']}/{t['need']} 题 {t['points']:g}/{t['need_points']:g} 分"
            for t in review.section_totals
        )
    )
    types = [s.type for s in spec.sections]
    labels = [s.label for s in spec.sections]
    name_w = max([_width(r["name"]) for r in review.composition] + [8]) + 2
    out.append("知识点 × 题型：")
    out.append(
        "  "
        + _pad("知识点", name_w)
        + "".join(_pad(lab, 8, True) for lab in labels)
        + _pad("分值", 8, True)
        + _pad("比重", 8, True)
        + _pad("目标", 14, True)
    )
    for r in review.composition:
        target = "-" if r["target"] is None else f"{r['target']:.0%}±{spec.area_tolerance:.0%}"
        mark = "" if r["ok"] else "  ✗"
        out.append(
            "  "
            + _pad(r["name"], name_w)
            + "".join(_pad(str(r["by_type"].get(t, 0)), 8, True) for t in types)
            + _pad(f"{r['points']:g}", 8, True)
            + _pad(f"{r['share']:.1%}", 8, True)
            + _pad(target, 14, True)
            + mark
        )
    m = review.measured
    if m["mean_p"] is not None:
        band = (
            f"（区间 [{spec.difficulty.p_min:.2f}, {spec.difficulty.p_max:.2f}]）" if spec.difficulty else ""
        )
        out.append(f"难度：平均 p = {m['mean_p']:.3f}{band}")
    else:
        out.append("难度：本卷题目还没有难度估计")
    if m["information"] is not None and spec.information is not None:
        info = spec.information
        out.append(
            "信息量："
            + "；".join(
                f"θ={th:g}: {v:.2f}（目标 {t:g} ±{info.tolerance:.0%}）"
                for th, v, t in zip(info.thetas, m["information"], info.targets, strict=True)
            )
        )
    if len(review.group) > 1:
        g = review.group_measured
        codes = [f.code.rsplit("-", 1)[-1] for f in review.group]
        out.append(
            f"平行卷重复题数（上限 {g['overlap_limit']} 道；平均难度极差 {g['mean_p_spread'] or 0:.3f}）："
        )
        out.append("      " + "".join(_pad(c, 6, True) for c in codes))
        for c, row in zip(codes, g["overlap"], strict=True):
            out.append("  " + _pad(c, 4) + "".join(_pad(str(v), 6, True) for v in row))
    conflicts = m["enemy_conflicts"]
    out.append(
        "互斥检查：" + ("无冲突" if not conflicts else "；".join(", ".join(v) for v in conflicts.values()))
    )
    out.append("约束检查：" + ("全部满足" if not review.violations else ""))
    out.extend(f"  ✗ {v}" for v in review.violations)
    checks = m.get("rule_checks") or []
    if checks:
        out.append(f"蓝图规则逐条检查（{len(checks)} 条）：")
        out.extend(f"  {'✓' if c['ok'] else '✗'} {c['rule']}：本卷 {c['value']}" for c in checks)
    if review.lock_intact is not None:
        out.append("锁定：" + ("内容与锁定时一致" if review.lock_intact else "内容与锁定快照不一致！"))
    return out
