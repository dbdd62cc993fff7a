"""Skill scoring: two examiners' mean within the sheet's tolerance, the chief examiner beyond it, the part score
(stations weighted) stored as the skill result and the level outcome (with history and the theory exemption)."""

from __future__ import annotations

from typing import Any

import pytest
from skills_support import SkillWorld
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.results.outcomes import current_outcome, outcome_history
from exam_server.skills.errors import SkillError
from exam_server.skills.models import AGREED, DECIDED, NEEDS_CHIEF, WAITING, SkillMark, Station, StationScore
from exam_server.skills.operations import decide, record_mark
from exam_server.skills.sheets import current_station

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _station(session: Session, code: str) -> Station:
    station = current_station(session, code)
    assert station is not None
    return station


def _mark(session: Session, world: SkillWorld, code: str, who: str, candidate: int, values: list[Any]) -> SkillMark:
    station = _station(session, code)
    return record_mark(session, world.sitting.id, station.id, world.candidates[candidate].id, world.users[who],
                       values, "", f"user:{who}")


def _score(session: Session, world: SkillWorld, code: str, candidate: int) -> StationScore:
    return session.scalar(select(StationScore).where(
        StationScore.session_id == world.sitting.id, StationScore.station_id == _station(session, code).id,
        StationScore.candidate_id == world.candidates[candidate].id))


def test_two_examiners_within_tolerance_make_the_mean(session: Session, skill_world: SkillWorld) -> None:
    _mark(session, skill_world, "S5-01", "e1", 0, [4, 6, 4, 6])
    assert _score(session, skill_world, "S5-01", 0).status == WAITING
    _mark(session, skill_world, "S5-01", "e2", 0, [3, 5, 4, 5.5])  # 17.5 against 20: within 3
    score = _score(session, skill_world, "S5-01", 0)
    assert (score.status, score.score, score.difference) == (AGREED, 18.75, 2.5)
    with pytest.raises(SkillError) as refused:  # a mark is never changed
        _mark(session, skill_world, "S5-01", "e2", 0, [4, 6, 4, 6])
    assert refused.value.status == 409


def test_marks_are_checked_per_criterion_on_the_server(session: Session, skill_world: SkillWorld) -> None:
    for values, words in (([4, 7, 4, 6], "「证件查验」的分数 7 应在 0 到 6 之间"), ([4, 6, 4], "有 4 个评分要点"),
                          ([4, 5.3, 4, 6], "0.5 的整数倍"), ([4, "", 4, 6], "「证件查验」须填写")):
        with pytest.raises(SkillError, match=words):
            _mark(session, skill_world, "S5-01", "e1", 0, values)
    assert session.scalar(select(func.count()).select_from(SkillMark)) == 0


def test_beyond_tolerance_the_chief_examiner_decides(session: Session, skill_world: SkillWorld) -> None:
    station = _station(session, "S5-01")
    _mark(session, skill_world, "S5-01", "e1", 0, [4, 6, 4, 6])
    _mark(session, skill_world, "S5-01", "e2", 0, [2, 3, 2, 5])  # 12 against 20
    assert _score(session, skill_world, "S5-01", 0).status == NEEDS_CHIEF
    cid = skill_world.candidates[0].id
    with pytest.raises(SkillError) as refused:  # an examiner is not the chief
        decide(session, skill_world.sitting.id, station.id, cid, skill_world.users["e1"], [4, 5, 4, 5], "复看录像",
               "user:e1")
    assert refused.value.status == 404
    with pytest.raises(SkillError, match="须写明理由"):
        decide(session, skill_world.sitting.id, station.id, cid, skill_world.users["zk"], [4, 5, 4, 5], " ", "user:zk")
    decide(session, skill_world.sitting.id, station.id, cid, skill_world.users["zk"], [4, 5, 4, 5],
           "复看现场录像，证件查验基本完整", "user:zk")
    score = _score(session, skill_world, "S5-01", 0)
    assert (score.status, score.score) == (DECIDED, 18.0)
    with pytest.raises(SkillError) as again:
        decide(session, skill_world.sitting.id, station.id, cid, skill_world.users["zk"], [1, 1, 1, 1], "再改",
               "user:zk")
    assert again.value.status == 409


def _all_stations(session: Session, world: SkillWorld, candidate: int, s1: list[Any] | None, s2: list[Any], s3: list[Any]) -> None:
    for code, (a, b), values in (("S5-01", ("e1", "e2"), s1), ("S5-02", ("e3", "e4"), s2),
                                 ("S5-03", ("e5", "e6"), s3)):
        if values is None:  # scored already
            continue
        _mark(session, world, code, a, candidate, values)
        _mark(session, world, code, b, candidate, values)


def test_the_skill_score_goes_into_the_stored_outcome(session: Session, skill_world: SkillWorld) -> None:
    passing = ([4, 6, 4, 6], [2, 2, 4, 2], [4, 3, 5, 2])  # 20/20, 10/20, 14/20 → 30 + 15 + 28 = 73
    failing = ([2, 3, 2, 3], [2, 2, 4, 2], [2, 1, 3, 2])  # 10/20, 10/20, 8/20 → 15 + 15 + 16 = 46
    _all_stations(session, skill_world, 0, *passing)  # theory 80
    _all_stations(session, skill_world, 1, *passing)  # theory 50
    _all_stations(session, skill_world, 2, *failing)  # theory exempt
    first, second, exempt = (current_outcome(session, c.id, 5) for c in skill_world.candidates)
    assert (first.skill_score, first.theory_score, first.passed, first.complete) == (73.0, 80.0, True, True)
    assert first.skill_session_id == skill_world.sitting.id
    assert (second.skill_score, second.passed, second.state) == (73.0, False, "failed")
    assert (exempt.theory_exempt, exempt.skill_score, exempt.passed) == (True, 46.0, False)
    # The history keeps the outcome before the skill part (theory only, pending) with its reason.
    history = outcome_history(session, skill_world.candidates[0].id, 5)
    assert [h.superseded for h in history] == [False, True]
    assert history[0].reason == "操作技能考站评分定分" and history[1].skill_score is None


def test_an_exempt_candidate_passes_on_the_skill_part_alone(session: Session, skill_world: SkillWorld) -> None:
    _all_stations(session, skill_world, 2, [3, 5, 3, 5], [3, 3, 6, 3], [3, 2, 7, 3])  # 24 + 22.5 + 30
    outcome = current_outcome(session, skill_world.candidates[2].id, 5)
    assert (outcome.theory_exempt, outcome.skill_score, outcome.passed) == (True, 76.5, True)


def test_the_release_goes_once_every_station_is_scored_or_the_candidate_absent(session: Session,
                                                                                skill_world: SkillWorld) -> None:
    from exam_server.results.errors import ResultsError
    from exam_server.results.release import release_results
    from exam_server.skills.operations import mark_absent

    _all_stations(session, skill_world, 0, [4, 6, 4, 6], [2, 2, 4, 2], [4, 3, 5, 2])
    _mark(session, skill_world, "S5-01", "e1", 1, [4, 6, 4, 6])
    with pytest.raises(SkillError, match="已有评分"):
        mark_absent(session, skill_world.sitting.id, skill_world.candidates[1].id, "未到场", "user:staff")
    with pytest.raises(ResultsError, match="考站 S5-01"):  # candidate 1 half scored, candidate 2 not at all
        release_results(session, skill_world.sitting.id, "user:staff")
    _mark(session, skill_world, "S5-01", "e2", 1, [4, 6, 4, 6])
    _all_stations(session, skill_world, 1, None, [2, 2, 4, 2], [4, 3, 5, 2])
    assert mark_absent(session, skill_world.sitting.id, skill_world.candidates[2].id, "未到场", "user:staff") == 3
    with pytest.raises(SkillError, match="缺考"):
        _mark(session, skill_world, "S5-02", "e3", 2, [4, 4, 8, 4])
    report = release_results(session, skill_world.sitting.id, "user:staff")
    assert report.released == 2
    outcome = current_outcome(session, skill_world.candidates[0].id, 5)
    assert (outcome.released, outcome.passed, outcome.skill_score) == (True, True, 73.0)
