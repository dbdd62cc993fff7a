"""The report's tables as people read them: titles, Chinese column headers and how each cell is worked out from
the counts. One description serves the page and the workbook, so both always say the same thing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exam_server.reports.figures import BINS, DIMENSIONS, LEVEL_NAMES, rate

TEXT, COUNT, PERCENT, SCORE = "text", "count", "percent", "score"


@dataclass(frozen=True)
class Column:
    header: str
    kind: str
    value: Callable[[dict[str, Any]], Any]


def _n(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name, 0)


def _mean(row: dict[str, Any]) -> float | None:
    return round(row["score_sum"] / row["scored"], 1) if row.get("scored") else None


APPLICATIONS = [
    Column("申请人数", COUNT, _n("applied")),
    Column("初审通过", COUNT, _n("unit_approved")),
    Column("复审通过", COUNT, _n("centre_approved")),
    Column("退回", COUNT, _n("rejected")),
    Column("待审", COUNT, _n("pending")),
    Column("复审通过率", PERCENT, lambda r: rate(r["centre_approved"], r["applied"])),
]
ATTENDANCE = [
    Column("应考人数", COUNT, _n("scheduled")),
    Column("实考人数", COUNT, _n("present")),
    Column("缺考人数", COUNT, _n("absent")),
    Column("未开考", COUNT, _n("not_started")),
    Column("免试人数", COUNT, _n("exempt")),
    Column("合格人数", COUNT, _n("passed")),
    Column("不合格人数", COUNT, _n("failed")),
    Column("待出成绩", COUNT, _n("awaiting")),
    Column("出勤率", PERCENT, lambda r: rate(r["present"], r["present"] + r["absent"])),
    Column("合格率", PERCENT, lambda r: rate(r["passed"], r["passed"] + r["failed"])),
    Column("平均分", SCORE, _mean),
]
OUTCOMES = [
    Column("等级结果人数", COUNT, _n("outcomes")),
    Column("考核完成人数", COUNT, _n("complete")),
    Column("等级合格人数", COUNT, _n("passed")),
    Column("等级合格率", PERCENT, lambda r: rate(r["passed"], r["complete"])),
]
TREND = [
    Column("月份", TEXT, lambda r: r["month"]),
    Column("等级", TEXT, lambda r: LEVEL_NAMES.get(int(r["level"]), r["level"])),
    Column("实考人数", COUNT, _n("present")),
    Column("已出成绩", COUNT, _n("scored")),
    Column("合格人数", COUNT, _n("passed")),
    Column("合格率", PERCENT, lambda r: rate(r["passed"], r["scored"])),
]
CERTIFICATES = [
    Column("等级", TEXT, lambda r: r["label"]),
    Column("发证数", COUNT, _n("issued")),
]
HOLDERS = [
    Column("序号", COUNT, lambda r: r["_n"]),
    Column("姓名", TEXT, lambda r: r["name"]),
    Column("身份证号（部分隐藏）", TEXT, lambda r: r["id_number"]),
    Column("等级", TEXT, lambda r: r["level"]),
    Column("证书编号", TEXT, lambda r: r["number"]),
    Column("发证日期", TEXT, lambda r: r["issued_on"].isoformat() if hasattr(r["issued_on"], "isoformat")
           else str(r["issued_on"])),
    Column("试点单位", TEXT, lambda r: r["unit"]),
]
BIN_LABELS = [f"{i * 100 // BINS}-{(i + 1) * 100 // BINS - 1}分" if i < BINS - 1 else f"{i * 100 // BINS}-100分"
              for i in range(BINS)]

SECTIONS = (
    ("applications", "申请", APPLICATIONS),
    ("attendance", "考试", ATTENDANCE),
    ("outcomes", "等级", OUTCOMES),
)
SECTION_TITLES = {"applications": "鉴定申请", "attendance": "参考、缺考与合格（按科目成绩）",
                  "outcomes": "等级结果（各科均合格为等级合格）"}


@dataclass(frozen=True)
class Table:
    """One breakdown: a sheet of the workbook, a table of the page."""

    name: str  # the sheet's name (≤ 31 characters)
    title: str
    headers: list[str]
    kinds: list[str]
    rows: list[list[Any]]


def breakdowns(report: dict[str, Any]) -> list[Table]:
    """Every breakdown of `report`, one table each: applications, attendance and outcomes by each dimension."""
    tables = []
    for section, short, columns in SECTIONS:
        for dim, rows in report.get(section, {}).items():
            tables.append(Table(
                f"{short}-按{DIMENSIONS[dim]}", f"{SECTION_TITLES[section]}：按{DIMENSIONS[dim]}",
                [DIMENSIONS[dim], *(c.header for c in columns)], [TEXT, *(c.kind for c in columns)],
                [[row["label"], *(c.value(row) for c in columns)] for row in rows]))
    return tables


def extras(report: dict[str, Any]) -> list[Table]:
    """The score distributions, the pass-rate trend and the certificates issued."""
    dist = report.get("distribution", {})
    return [
        Table("成绩分布", "成绩分布（人数，按等级与科目）", ["等级与科目", *BIN_LABELS, "合计"],
              [TEXT, *([COUNT] * (BINS + 1))],
              [[d["label"], *d["bins"], sum(d["bins"])] for _k, d in sorted(dist.items(), key=_dist_order)]),
        Table("合格率趋势", "合格率趋势（按月、按等级）", [c.header for c in TREND], [c.kind for c in TREND],
              [[c.value(p) for c in TREND] for p in report.get("trend", [])]),
        Table("证书发放", "证书发放（按等级）", [c.header for c in CERTIFICATES], [c.kind for c in CERTIFICATES],
              [[c.value(r) for c in CERTIFICATES] for r in report.get("certificates", [])]),
    ]


def _dist_order(item: tuple[str, dict[str, Any]]) -> tuple[int, str]:
    level, _, part = item[0].partition("-")
    return (-int(level) if level.isdigit() else 0, part)


def holders_table(rows: list[dict[str, Any]]) -> Table:
    return Table("持证人员名册", "持证人员名册（补贴申领用）", [c.header for c in HOLDERS], [c.kind for c in HOLDERS],
                 [[c.value(r | {"_n": i}) for c in HOLDERS] for i, r in enumerate(rows, 1)])
