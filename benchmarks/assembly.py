"""Benchmark: optimal parallel forms (HiGHS MIP) against a random stratified draw, for one blueprint.

    python benchmarks/assembly.py                  # 5,000 items, 10 forms of 100, 60 s limit
    python benchmarks/assembly.py --items 2000 --forms 5 --time-limit 30 --seed 3

It generates a realistic pool in a scratch SQLite database (types, knowledge areas and stem-variant
enemies in the shared bank's proportions; difficulty p and 3PL parameters drawn to match each other),
assembles N parallel forms of 100 items against a blueprint with area shares, a mean-p band, a target
information curve, enemies and at most 10 % overlap, then draws the same forms the common way (per type ×
area stratum, at random) and prints both side by side, measured by the same code on the forms themselves.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import exam_server.models  # noqa: E402,F401  (fills Base.metadata)
from item_bank.assembly import assemble_forms, evaluate_forms, load_pool, order_form  # noqa: E402
from item_bank.assembly.pool import ItemRecord, Pool, Unit, item_information  # noqa: E402
from item_bank.blueprints import (  # noqa: E402
    BlueprintSpec,
    DifficultySpec,
    InformationSpec,
    SectionSpec,
    create_blueprint,
)
from item_bank.db import Base, make_engine, make_session_factory  # noqa: E402
from item_bank.models import APPROVED, Item, ItemSet, ItemVersion, KnowledgeArea  # noqa: E402

# The shared bank's mix (item_bank/data/baoan_items.csv): items per area label and type (judge, multiple, single).
BANK_MIX = {
    "保安服务业基础": (28, 37, 134),
    "保安服务法律法规": (25, 26, 91),
    "安全检查与技防": (14, 21, 20),
    "巡逻": (22, 23, 83),
    "押运与守护": (30, 34, 111),
    "法律基础知识": (38, 59, 108),
    "消防安全": (37, 32, 110),
    "现场急救": (29, 35, 79),
    "秩序维护与大型活动": (6, 7, 33),
    "突发事件与应急处置": (0, 2, 7),
    "综合": (31, 5, 100),
    "职业道德与礼仪": (12, 17, 44),
    "道路交通安全": (13, 58, 64),
    "门卫与出入口管理": (9, 12, 38),
    "随身护卫": (1, 0, 11),
}
TYPES = ("judge", "multiple", "single")
# 42 of 1,696 stems have variants; items sets do not occur in the shared bank but do in real ones.
VARIANT_RATE = 42 / 1696
THETAS = [-1.0, 0.0, 1.0]


def generate_pool(session, n_items: int, seed: int, n_sets: int = 30) -> None:
    """Write `n_items` approved level-5 items drawn like the shared bank into `session`."""
    rng = np.random.default_rng(seed)
    cells = [
        (area, t, n) for area, counts in BANK_MIX.items() for t, n in zip(TYPES, counts, strict=True) if n
    ]
    weights = np.array([n for _, _, n in cells], dtype=float)
    weights /= weights.sum()
    areas = {}
    for i, name in enumerate(BANK_MIX, start=1):
        areas[name] = KnowledgeArea(code=f"B{i:02d}", name=name, level=5, part="theory", position=i)
    session.add_all(areas.values())
    session.flush()
    sets = []
    for k in range(n_sets):
        s = ItemSet(external_id=f"BS-{k:04d}", title=f"情景 {k}", stimulus="情景材料")
        sets.append(s)
    session.add_all(sets)
    session.flush()
    draws = rng.choice(len(cells), size=n_items, p=weights)
    items = [Item(external_id=f"BX-{i:05d}") for i in range(n_items)]
    session.add_all(items)
    session.flush()
    # Sets: the first 3·n_sets single-choice items of a few content areas become 3-item sets.
    set_of: dict[int, tuple[int, int]] = {}
    singles = [i for i in range(n_items) if cells[draws[i]][1] == "single"]
    for k in range(min(n_sets, len(singles) // 3)):
        for pos in range(3):
            set_of[singles[3 * k + pos]] = (sets[k].id, pos + 1)
        # A set's children share one area.
        for pos in range(3):
            draws[singles[3 * k + pos]] = draws[singles[3 * k]]
    n_variant = round(n_items * VARIANT_RATE / 2)
    variant_pairs = rng.choice(n_items, size=(n_variant, 2), replace=False)
    stem_of = {i: f"第{i}题题干" for i in range(n_items)}
    for a, b in variant_pairs:
        stem_of[b] = stem_of[a]  # identical stems, different options: never on one form
    n_groups = n_items // 100
    group_of: dict[int, str] = {}
    for g in range(n_groups):
        for i in rng.choice(n_items, size=3, replace=False):
            group_of.setdefault(int(i), f"EG-{g:03d}")
    versions = []
    for i, item in enumerate(items):
        area, t, _ = cells[draws[i]]
        a = float(np.clip(rng.lognormal(0.0, 0.3), 0.4, 2.5))
        b = float(rng.normal(-0.8, 0.9))
        c = {"judge": 0.5, "single": 0.25, "multiple": 0.05}[t]
        # Classical p of a 3PL item for a N(0,1) population (numerical mean over a grid).
        grid = np.linspace(-4, 4, 81)
        w = np.exp(-(grid**2) / 2)
        prob = c + (1 - c) / (1 + np.exp(-a * (grid - b)))
        p = float((prob * w).sum() / w.sum())
        set_id, set_pos = set_of.get(i, (None, 0))
        versions.append(
            ItemVersion(
                item_id=item.id,
                version_no=1,
                status=APPROVED,
                type=t,
                stem=stem_of[i],
                content={"options": ["甲", "乙", "丙", "丁"] if t != "judge" else ["正确", "错误"]},
                key="A",
                points=1.0,
                levels=[5],
                part="theory",
                knowledge_area_id=areas[area].id,
                item_set_id=set_id,
                set_position=set_pos,
                enemy_group=group_of.get(i),
                difficulty=round(p, 4),
                irt_a=round(a, 4),
                irt_b=round(b, 4),
                irt_c=c,
                stats_n=800,
            )
        )
    session.add_all(versions)
    session.flush()


def benchmark_spec(pool: Pool, n_forms: int) -> BlueprintSpec:
    """20 judge / 60 single / 20 multiple; shares from the pool's mix; p band and information target."""
    shares_raw = Counter()
    for r in pool.records:
        shares_raw[r.area_name] += 1
    total = sum(shares_raw.values())
    shares = {
        name: round(n / total, 2) for name, n in shares_raw.items() if name != "综合" and n / total >= 0.005
    }
    ps = np.array([r.p for r in pool.records if r.p is not None])
    mean_info = np.mean([item_information(r.irt, np.array(THETAS)) for r in pool.records if r.irt], axis=0)
    return BlueprintSpec(
        name="基准蓝图",
        level=5,
        part="theory",
        duration_s=5400,
        sections=[
            SectionSpec("judge", 20, 1.0, title="判断题"),
            SectionSpec("single", 60, 1.0, title="单选题"),
            SectionSpec("multiple", 20, 1.0, "all_or_nothing", title="多选题"),
        ],
        area_shares=shares,
        area_tolerance=0.02,
        difficulty=DifficultySpec(
            p_min=round(ps.mean() - 0.02, 2), p_max=round(ps.mean() + 0.02, 2), parallel_tolerance=0.01
        ),
        information=InformationSpec(
            thetas=THETAS,
            targets=[round(float(v) * 100, 1) for v in mean_info],
            tolerance=0.1,
            parallel_tolerance=0.02,
        ),
        max_overlap=0.1,
    )


def stratified_draw(pool: Pool, spec: BlueprintSpec, n_forms: int, seed: int) -> list[list[ItemRecord]]:
    """The common practice: per form, per type, split the count over areas by share and draw at random."""
    rng = np.random.default_rng(seed)
    strata: dict[tuple[str, str], list[Unit]] = defaultdict(list)
    for u in pool.usable():
        strata[(u.type, u.records[0].area)].append(u)
    forms = []
    for _ in range(n_forms):
        chosen: list[Unit] = []
        for sec in spec.sections:
            quota = _largest_remainder(sec.count, spec.area_shares)
            taken = 0
            for area, k in quota.items():
                units = strata.get((sec.type, area), [])
                got = 0
                for j in rng.permutation(len(units)):
                    if got + units[j].size > k:
                        continue
                    chosen.append(units[j])
                    got += units[j].size
                    if got == k:
                        break
                taken += got
            # What the quotas leave belongs to the unlisted areas (综合); then, if short, to any area.
            picked = {u.key for u in chosen}
            for listed in (False, True):
                rest = [
                    u
                    for u in pool.usable()
                    if u.type == sec.type
                    and u.key not in picked
                    and (u.records[0].area in spec.area_shares) == listed
                ]
                for j in rng.permutation(len(rest)):
                    if taken >= sec.count:
                        break
                    if taken + rest[j].size <= sec.count:
                        chosen.append(rest[j])
                        picked.add(rest[j].key)
                        taken += rest[j].size
        forms.append(order_form(spec, chosen))
    return forms


def _largest_remainder(count: int, shares: dict[str, float]) -> dict[str, int]:
    total = sum(shares.values()) or 1.0
    raw = {a: count * s / total * min(total, 1.0) for a, s in shares.items()}
    floor = {a: math.floor(v) for a, v in raw.items()}
    left = round(count * min(total, 1.0)) - sum(floor.values())
    for a in sorted(raw, key=lambda a: raw[a] - floor[a], reverse=True)[: max(left, 0)]:
        floor[a] += 1
    return floor


def row(measured: dict, seconds: float, gap: str) -> list[str]:
    info_dev = measured["max_information_deviation"]
    return [
        f"{seconds:.1f}",
        str(measured["n_violations"]),
        f"{measured['max_area_deviation']:.1%}",
        f"{measured['mean_p_spread']:.3f}",
        "-" if info_dev is None else f"{info_dev:.1%}",
        f"{measured['max_overlap']} / {measured['overlap_limit']}",
        gap,
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--forms", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gap", type=float, default=0.01)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        Base.metadata.create_all(engine)
        session = make_session_factory(engine)()
        t0 = time.perf_counter()
        generate_pool(session, args.items, args.seed)
        session.commit()
        print(f"题库：{args.items} 道已审核题目（生成用时 {time.perf_counter() - t0:.1f} 秒）")
        probe = BlueprintSpec(name="probe", level=5, sections=[SectionSpec(t, 1) for t in TYPES])
        spec = benchmark_spec(load_pool(session, probe), args.forms)
        bp = create_blueprint(session, spec, "benchmark")
        session.commit()
        print(
            f"蓝图：{spec.item_count} 题（判断 20 / 单选 60 / 多选 20），{len(spec.area_shares)} 个知识点比重 ±"
            f"{spec.area_tolerance:.0%}，平均难度 p ∈ [{spec.difficulty.p_min}, {spec.difficulty.p_max}]，"
            f"θ = {THETAS} 处信息量目标 {spec.information.targets} ±{spec.information.tolerance:.0%}，"
            f"互斥题，平行卷两两重复 ≤ {spec.max_overlap:.0%}；{args.forms} 份平行卷"
        )

        t1 = time.perf_counter()
        result = assemble_forms(
            session, bp, args.forms, time_limit_s=args.time_limit, seed=args.seed, gap=args.gap
        )
        mip_s = time.perf_counter() - t1
        mip = evaluate_forms(spec, result.items)
        solver = result.report["solver"]
        session.rollback()

        t2 = time.perf_counter()
        pool = load_pool(session, spec)
        drawn = stratified_draw(pool, spec, args.forms, args.seed)
        draw_s = time.perf_counter() - t2
        rnd = evaluate_forms(spec, drawn)

    headers = [
        "秒",
        "违反约束",
        "知识点比重最大偏差",
        "平均难度极差",
        "信息量最大偏差",
        "最大重复/上限",
        "最优性差距",
    ]
    mip_gap = "-" if solver["gap"] is None else f"{solver['gap']:.2%}"
    table = [["MIP (HiGHS)", *row(mip, mip_s, mip_gap)], ["随机分层抽题", *row(rnd, draw_s, "-")]]
    widths = [max(len(str(r[i])) for r in [["", *headers], *table]) + 2 for i in range(len(headers) + 1)]
    print()
    print("".join(h.ljust(w) for h, w in zip(["", *headers], widths, strict=True)))
    for r in table:
        print("".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print()
    print(
        f"MIP：{solver['status']}（{solver['solver_status']}），目标值 {solver['objective']:.4f}，下界 "
        f"{solver['dual_bound']}，模型 {solver['model']['integer_columns']} 个 0-1 变量 / {solver['model']['rows']} 行，"
        f"分层 {solver['tier']}，求解 {result.report['seconds']['solve']:.1f} 秒；逐份热启动 {solver['warm_start']}"
    )
    met = mip["n_violations"] == 0 and (solver["gap"] or 0) <= args.gap + 1e-9 and mip_s < 60
    print("目标（全部约束满足、差距 ≤ 1%、60 秒内）：" + ("达到" if met else "未达到"))
    for k, v in enumerate(rnd["violations"]):
        if v:
            print(f"  随机抽题第 {k + 1} 份: " + "；".join(v[:4]) + (" ……" if len(v) > 4 else ""))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
