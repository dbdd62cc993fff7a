"""Report figures against the hand-counted world of reports_support (its docstring lists every candidate)."""

from __future__ import annotations

import pytest
from reports_support import NOW, World
from sqlalchemy.orm import Session

from exam_server.organisations.scope import EVERYTHING
from exam_server.reports import figures as F

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PERIOD = F.Period.parse("2026-03-01", "2026-04-30")
COUNTS = ("scheduled", "present", "absent", "exempt", "passed", "failed")


def _rows(report: dict, table: str, dim: str) -> dict[str, dict]:
    return {row["key"]: row for row in report[table][dim]}


def _c(row: dict, names: tuple[str, ...] = COUNTS) -> tuple:
    return tuple(row[n] for n in names)


@SQLITE
def test_a_centres_figures_match_the_hand_count(session: Session, world: World) -> None:
    report = F.compute(session, F.centre_scope(session, world.centres["C1"]), PERIOD, now=NOW)
    by_level = _rows(report, "attendance", "level")
    # T5: a b c d e ticketed (c absent), f exempt; K5: a b d e f ticketed (b absent, f observed); T4: g, h absent.
    assert _c(by_level["5"]) == (10, 8, 2, 1, 6, 2)
    assert _c(by_level["4"]) == (2, 1, 1, 0, 0, 1)
    assert by_level["5"]["score_sum"] == 80 + 50 + 60 + 90 + 70 + 40 + 65 + 75
    by_part = _rows(report, "attendance", "part")
    assert _c(by_part["theory"]) == (7, 5, 2, 1, 3, 2)
    assert _c(by_part["skill"]) == (5, 4, 1, 0, 3, 1)
    by_sitting = _rows(report, "attendance", "sitting")
    # By date; X4 is after the period, M5 is C2's.
    assert [row["key"] for row in report["attendance"]["sitting"]] == ["T5", "K5", "T4"]
    assert _c(by_sitting["T5"]) == (5, 4, 1, 1, 3, 1)
    by_site = _rows(report, "attendance", "site")
    assert _c(by_site["S1"]) == (6, 5, 1, 1, 3, 2)  # T5 and g
    assert _c(by_site["S2"]) == (6, 4, 2, 0, 3, 1)  # K5 and h
    by_unit = _rows(report, "attendance", "unit")
    assert _c(by_unit["U1"]) == (7, 5, 2, 0, 3, 2)
    assert _c(by_unit["U2"]) == (5, 4, 1, 1, 3, 1)
    by_city = _rows(report, "attendance", "city")
    assert _c(by_city["甲市"]) == _c(by_unit["U1"]) and _c(by_city["乙市"]) == _c(by_unit["U2"])

    outcomes = _rows(report, "outcomes", "level")
    assert _c(outcomes["5"], F.OUTCOME_COUNTS) == (5, 4, 3)  # a b d e f; complete a d e f; passed a e f
    assert _c(outcomes["4"], F.OUTCOME_COUNTS) == (1, 0, 0)  # g (d's level 4 is dated June)
    apps = _rows(report, "applications", "level")
    assert _c(apps["5"], F.APPLICATION_COUNTS) == (7, 6, 6, 1, 0)
    assert _c(apps["4"], F.APPLICATION_COUNTS) == (3, 2, 2, 0, 1)
    assert _c(_rows(report, "applications", "unit")["U1"], F.APPLICATION_COUNTS) == (5, 4, 4, 1, 0)
    assert report["certificates"] == [{"key": "5", "label": F.LEVEL_NAMES[5], "issued": 3}]
    assert report["distribution"]["5-theory"]["bins"] == [0, 0, 0, 0, 0, 1, 1, 0, 1, 1]
    assert {(p["month"], p["level"]): (p["present"], p["passed"]) for p in report["trend"]} == {
        ("2026-03", "5"): (8, 6), ("2026-04", "4"): (1, 0)}


@SQLITE
def test_a_level_filter_and_the_province_scope(session: Session, world: World) -> None:
    level4 = F.compute(session, F.centre_scope(session, world.centres["C1"]), PERIOD, level=4, now=NOW)
    assert set(_rows(level4, "attendance", "level")) == {"4"}
    everything = F.compute(session, EVERYTHING, PERIOD, now=NOW)
    assert _c(_rows(everything, "attendance", "level")["5"]) == (11, 9, 2, 1, 7, 2)  # and k at C2
    assert _c(_rows(everything, "attendance", "unit")["U3"]) == (1, 1, 0, 0, 1, 0)
    assert everything["certificates"][0]["issued"] == 4


@SQLITE
def test_before_the_sitting_ends_nobody_is_absent_yet(session: Session, world: World) -> None:
    during = world.sittings["T4"].starts_at
    report = F.compute(session, F.centre_scope(session, world.centres["C1"]), PERIOD, level=4, now=during)
    row = _rows(report, "attendance", "sitting")["T4"]
    assert (row["absent"], row["not_started"]) == (0, 1)


@SQLITE
def test_holders_list_masks_the_id_and_names_the_unit(session: Session, world: World) -> None:
    rows = F.holders(session, F.centre_scope(session, world.centres["C1"]), PERIOD)
    assert [(r["name"], r["unit"]) for r in rows] == [("考生a", "试点单位U1"), ("考生e", "试点单位U2"),
                                                      ("考生f", "试点单位U2")]
    assert all("*" in r["id_number"] and r["id_number"] != world.people["a"].id_number for r in rows)


def test_bad_dates_are_refused_naming_the_field() -> None:
    with pytest.raises(F.ReportError, match="起始日期"):
        F.Period.parse("2026-13-01", "2026-04-30")
    with pytest.raises(F.ReportError, match="晚于"):
        F.Period.parse("2026-05-01", "2026-04-30")
