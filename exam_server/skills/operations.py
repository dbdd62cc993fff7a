"""The verbs of the practical-skill assessment: set up a skill sitting's stations and examiners, record an
examiner's marks (tablet, paper sheet typed in later, or import), the chief examiner's decision.

Two examiners score each candidate at each station, blind to each other. The station's score follows the grading
domain's rules (scoring.grading, as grading/marking.py uses them): within the score sheet's tolerance the mean of
the two; beyond it the chief examiner (主考) decides and that mark is the score. Once every station of a candidate
has its score, the skill part score out of 100 (the stations weighted as their sheets say) is stored as the
candidate's skill result through the results domain (`store_completed`), which refreshes the level outcome.
"""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.results.models import RELEASED, Result
from exam_server.results.outcomes import refresh_outcomes
from exam_server.results.scoring import store_completed
from exam_server.sessions.models import ExamSession, Ticket
from exam_server.sessions.operations import SittingRules, create_exam_session
from exam_server.skills.errors import SkillError
from exam_server.skills.models import (
    ABSENT,
    AGREED,
    CHIEF,
    DECIDED,
    EXAMINER,
    FINAL_STATES,
    NEEDS_CHIEF,
    TABLET,
    WAITING,
    Examiner,
    SittingStation,
    SkillMark,
    Station,
    StationScore,
)
from exam_server.skills.sheets import SKILL_LEVELS, current_station
from item_bank.audit import AuditEvent, audit
from item_bank.db import transaction, utcnow
from item_bank.models import Blueprint
from scoring.grading import final_mark, needs_adjudication
from scoring.results import part_passed
from scoring.rules import weighted_part_score

EXAMINER_ROLES = ("grader", "chief_grader")
CHIEF_ROLES = ("chief_grader",)
PART = "skill"
PART_REASON = "操作技能考站评分定分"
CHUNK = 500


# ---------------------------------------------------------------- setting up a skill sitting


def observed_blueprint(session: Session, level: int, actor: str) -> Blueprint:
    """The blueprint a level's observed skill sittings hang on (an ExamSession needs one): no paper, the pass mark
    and the rule that the stations' score sheets decide."""
    name = f"{level}级操作技能 考站实操考核（评分表评分）"
    blueprint = session.scalar(select(Blueprint).where(Blueprint.name == name))
    if blueprint is None:
        blueprint = Blueprint(name=name, level=level, part=PART, duration_s=2 * 3600, pass_mark=60.0,
                              spec={"name": name, "level": level, "part": PART, "observed": True, "sections": []})
        session.add(blueprint)
        session.flush()
        audit(session, actor, "skill.blueprint", "blueprint", blueprint.id, after={"name": name})
    return blueprint


def create_skill_sitting(
    session: Session, *, code: str, name: str, level: int, starts_at: Any, duration_s: int, centre_id: int | None,
    actor: str,
) -> ExamSession:
    """A new observed skill sitting (操作技能 实操考核) of `level` 5-3. Flushes."""
    if level not in SKILL_LEVELS:
        raise SkillError("操作技能考站考核只用于五级至三级")
    blueprint = observed_blueprint(session, level, actor)
    exam_session = create_exam_session(session, code=code, name=name, blueprint=blueprint, starts_at=starts_at,
                                       actor=actor, duration_s=duration_s, rules=SittingRules(min_submit_min=0))
    exam_session.centre_id = centre_id
    return exam_session


def add_candidates(session: Session, exam_session: ExamSession, candidate_ids: Sequence[int], actor: str) -> int:
    """Give each candidate a ticket (准考证) of the skill sitting; they do not log in (examiners score them), so the
    credential is a random one nobody knows. Flushes; returns the tickets made."""
    have = set(session.scalars(select(Ticket.candidate_id).where(Ticket.session_id == exam_session.id)))
    todo = [c for c in dict.fromkeys(candidate_ids) if c not in have]
    start = (session.scalar(select(func.count()).select_from(Ticket).where(Ticket.session_id == exam_session.id))
             or 0)
    unusable = hash_password(secrets.token_urlsafe(16), "low")
    session.add_all([
        Ticket(number=f"K{exam_session.id:04d}{start + i:05d}", session_id=exam_session.id, candidate_id=cid,
               password_hash=unusable)
        for i, cid in enumerate(todo, start=1)
    ])
    session.flush()
    audit(session, actor, "skill.add_candidates", "exam_session", exam_session.id, after={"tickets": len(todo)})
    return len(todo)


def check_skill_sitting(exam_session: ExamSession) -> None:
    if exam_session.part != PART or exam_session.level not in SKILL_LEVELS:
        raise SkillError(f"考试场次 {exam_session.code} 不是五级至三级的操作技能场次", 404)


def set_up_sitting(
    session: Session,
    exam_session: ExamSession,
    stations: Sequence[tuple[str, Sequence[User]]],
    chief: User,
    actor: str,
) -> list[SittingStation]:
    """Use `stations` (station code, its two examiners) in a skill sitting with `chief` as its chief examiner.
    Refused once anyone has scored. Commits."""
    with transaction(session):
        check_skill_sitting(exam_session)
        if session.scalar(select(SkillMark.id).where(SkillMark.session_id == exam_session.id).limit(1)):
            raise SkillError("本场次已开始评分，不能再改考站和考评员", 409)
        if not stations:
            raise SkillError("请至少选择一个考站")
        if not chief.has_role(*CHIEF_ROLES):
            raise SkillError(f"{chief.display_name}（{chief.username}）不是阅卷组长，不能担任主考")
        for old in session.scalars(select(Examiner).where(Examiner.session_id == exam_session.id)):
            session.delete(old)
        for old in session.scalars(select(SittingStation).where(SittingStation.session_id == exam_session.id)):
            session.delete(old)
        session.flush()
        made = []
        for position, (code, people) in enumerate(stations):
            station = current_station(session, code)
            if station is None:
                raise SkillError(f"没有考站 {code}")
            if station.level != exam_session.level:
                raise SkillError(f"考站 {code} 是 {station.level} 级的，本场次是 {exam_session.level} 级")
            users = list(dict.fromkeys(people))
            if len(users) != 2:
                raise SkillError(f"考站 {code} 须有两名不同的考评员")
            for user in users:
                if not user.has_role(*EXAMINER_ROLES) or not user.active:
                    raise SkillError(f"{user.display_name}（{user.username}）不是在用的阅卷员，不能担任考评员")
                if user.id == chief.id:
                    raise SkillError(f"主考 {chief.display_name} 不能同时是考站 {code} 的考评员")
                session.add(Examiner(session_id=exam_session.id, station_id=station.id, user_id=user.id,
                                     role=EXAMINER))
            sitting_station = SittingStation(session_id=exam_session.id, station_id=station.id, position=position)
            session.add(sitting_station)
            made.append(sitting_station)
        session.add(Examiner(session_id=exam_session.id, station_id=None, user_id=chief.id, role=CHIEF))
        session.flush()
        audit(session, actor, "skill.set_up_sitting", "exam_session", exam_session.id,
              after={"stations": [[c, [u.username for u in p]] for c, p in stations], "chief": chief.username})
    return made


# ---------------------------------------------------------------- marks


def sitting_stations(session: Session, session_id: int) -> list[Station]:
    """The stations of a skill sitting, in order."""
    return list(session.scalars(
        select(Station).join(SittingStation, SittingStation.station_id == Station.id)
        .where(SittingStation.session_id == session_id).order_by(SittingStation.position)
    ))


def _station_of(session: Session, exam_session: ExamSession, station_id: int) -> Station:
    station = session.scalar(
        select(Station).join(SittingStation, SittingStation.station_id == Station.id)
        .where(SittingStation.session_id == exam_session.id, Station.id == station_id)
    )
    if station is None:
        raise SkillError("本场次没有这个考站", 404)
    return station


def is_examiner(session: Session, session_id: int, station_id: int, user_id: int) -> bool:
    return session.scalar(select(Examiner.id).where(
        Examiner.session_id == session_id, Examiner.station_id == station_id, Examiner.user_id == user_id,
        Examiner.role == EXAMINER)) is not None


def is_chief_examiner(session: Session, session_id: int, user_id: int) -> bool:
    return session.scalar(select(Examiner.id).where(
        Examiner.session_id == session_id, Examiner.user_id == user_id, Examiner.role == CHIEF)) is not None


def sitting_candidate(session: Session, exam_session: ExamSession, candidate_id: int) -> Ticket:
    ticket = session.scalar(select(Ticket).where(Ticket.session_id == exam_session.id,
                                                 Ticket.candidate_id == candidate_id, Ticket.status == "active"))
    if ticket is None:
        raise SkillError("该考生不在本场次", 404)
    return ticket


def check_criteria(station: Station, values: Sequence[Any]) -> list[float]:
    """The per-criterion marks of a form or a row, each within 0..its points and on the sheet's step; the server's
    check whatever the page did. SkillError names the criterion."""
    if len(values) != len(station.criteria):
        raise SkillError(f"考站 {station.code} 有 {len(station.criteria)} 个评分要点，收到 {len(values)} 个分数", field="criteria")
    marks = []
    for criterion, raw in zip(station.criteria, values, strict=True):
        name, points = criterion["name"], float(criterion["points"])
        text = "" if raw is None else str(raw).strip()
        try:
            value = float(text)
        except ValueError:
            raise SkillError(f"「{name}」须填写 0 到 {points:g} 之间的分数", field=name) from None
        if not math.isfinite(value) or value < 0 or value > points + 1e-9:
            raise SkillError(f"「{name}」的分数 {text} 应在 0 到 {points:g} 之间", field=name)
        step = station.mark_step or 0.5
        if not math.isclose(value / step, round(value / step), abs_tol=1e-9):
            raise SkillError(f"「{name}」的分数 {text} 应为 {step:g} 的整数倍", field=name)
        marks.append(value)
    return marks


def _check_open(session: Session, exam_session: ExamSession, candidate_id: int) -> None:
    released = session.scalar(select(Result.id).where(
        Result.session_id == exam_session.id, Result.candidate_id == candidate_id, Result.part == PART,
        Result.superseded.is_(False), Result.status == RELEASED))
    if released is not None:
        raise SkillError("该考生的操作技能成绩已发布，不能再改（如有异议请走复核）", 409)


@dataclass(frozen=True)
class MarkEntry:
    """One examiner's marks for one candidate at one station, as a tablet, a typed-in sheet or an import row gives
    them (`values` per criterion, not yet checked)."""

    station: Station
    candidate_id: int
    examiner: User
    values: Sequence[Any]
    comment: str = ""
    source: str = TABLET


def add_marks(session: Session, exam_session: ExamSession, entries: Sequence[MarkEntry], actor: str) -> list[SkillMark]:
    """Examiners' marks (flushes; the caller's transaction commits), checked as a whole before any is stored: each
    examiner one of the station's two, the candidate of the sitting with no released skill result, no one marking
    a candidate twice, every criterion in range. Station scores and completed skill results follow, in bulk (an
    import of a whole sitting is a few statements per candidate, not per mark)."""
    check_skill_sitting(exam_session)
    assigned = set(session.execute(select(Examiner.station_id, Examiner.user_id).where(
        Examiner.session_id == exam_session.id, Examiner.role == EXAMINER)).all())
    ticketed = set(session.scalars(select(Ticket.candidate_id).where(
        Ticket.session_id == exam_session.id, Ticket.status == "active")))
    released = set(session.scalars(select(Result.candidate_id).where(
        Result.session_id == exam_session.id, Result.part == PART, Result.superseded.is_(False),
        Result.status == RELEASED)))
    stored = set(session.execute(select(SkillMark.station_id, SkillMark.candidate_id, SkillMark.examiner_id).where(
        SkillMark.session_id == exam_session.id, SkillMark.kind == EXAMINER)).all())
    absent = set(session.scalars(select(StationScore.candidate_id).where(
        StationScore.session_id == exam_session.id, StationScore.status == ABSENT)))
    marks = []
    for e in entries:
        if (e.station.id, e.examiner.id) not in assigned:
            raise SkillError(f"{e.examiner.display_name} 不是本场次考站 {e.station.code} 的考评员", 404)
        if e.candidate_id not in ticketed:
            raise SkillError("该考生不在本场次", 404)
        if e.candidate_id in absent:
            raise SkillError("该考生已记为缺考，不能评分", 409)
        if e.candidate_id in released:
            raise SkillError("该考生的操作技能成绩已发布，不能再改（如有异议请走复核）", 409)
        key = (e.station.id, e.candidate_id, e.examiner.id)
        if key in stored:
            raise SkillError(f"{e.examiner.display_name} 已给该考生在考站 {e.station.code} 评过分，不能修改", 409)
        stored.add(key)
        values = check_criteria(e.station, e.values)
        marks.append(SkillMark(session_id=exam_session.id, station_id=e.station.id, candidate_id=e.candidate_id,
                               examiner_id=e.examiner.id, kind=EXAMINER, criteria=values, total=math.fsum(values),
                               comment=(e.comment or "").strip()[:2000], source=e.source, entered_by=actor[:120]))
    if not marks:
        return []
    session.add_all(marks)
    session.flush()
    now = utcnow()
    session.execute(insert(AuditEvent), [
        {"at": now, "actor": actor, "action": "skill.mark", "entity": "skill_mark", "entity_id": str(m.id),
         "reason": "", "before": None,
         "after": {"session_id": exam_session.id, "station": e.station.code, "candidate_id": m.candidate_id,
                   "examiner": e.examiner.username, "total": m.total, "source": m.source}}
        for m, e in zip(marks, entries, strict=True)
    ])
    update_station_scores(session, exam_session, {(m.station_id, m.candidate_id) for m in marks}, actor)
    return marks


def add_mark(
    session: Session, exam_session: ExamSession, station: Station, candidate_id: int, examiner: User,
    values: Sequence[Any], comment: str, source: str, entered_by: str,
) -> SkillMark:
    """One examiner's marks (`add_marks` of one entry); flushes."""
    return add_marks(session, exam_session, [MarkEntry(station, candidate_id, examiner, values, comment, source)],
                     entered_by)[0]


def record_mark(
    session: Session, session_id: int, station_id: int, candidate_id: int, examiner: User, values: Sequence[Any],
    comment: str, actor: str, source: str = TABLET,
) -> SkillMark:
    """`add_mark` as one transaction (the tablet page, a paper sheet typed in). Commits."""
    with transaction(session):
        exam_session = _sitting(session, session_id)
        station = _station_of(session, exam_session, station_id)
        return add_mark(session, exam_session, station, candidate_id, examiner, values, comment, source, actor)


def _sitting(session: Session, session_id: int) -> ExamSession:
    exam_session = session.get(ExamSession, session_id)
    if exam_session is None:
        raise SkillError("考试场次不存在", 404)
    check_skill_sitting(exam_session)
    return exam_session


def _score_row(session: Session, session_id: int, station_id: int, candidate_id: int) -> StationScore:
    row = session.scalar(select(StationScore).where(
        StationScore.session_id == session_id, StationScore.station_id == station_id,
        StationScore.candidate_id == candidate_id))
    if row is None:
        row = StationScore(session_id=session_id, station_id=station_id, candidate_id=candidate_id, status=WAITING)
        session.add(row)
    return row


def update_station_scores(
    session: Session, exam_session: ExamSession, pairs: set[tuple[int, int]], actor: str
) -> None:
    """Each (station, candidate)'s score from the examiners' marks: the mean within the sheet's tolerance, else
    waiting for the chief examiner (scoring.grading's rules); then the skill result of every candidate whose
    stations are now all final."""
    stations = {s.id: s for s in sitting_stations(session, exam_session.id)}
    candidate_ids = sorted({c for _, c in pairs})
    marks: dict[tuple[int, int], list[float]] = defaultdict(list)
    rows: dict[tuple[int, int], StationScore] = {}
    for start in range(0, len(candidate_ids), CHUNK):
        chunk = candidate_ids[start:start + CHUNK]
        for station_id, candidate_id, total in session.execute(
            select(SkillMark.station_id, SkillMark.candidate_id, SkillMark.total).where(
                SkillMark.session_id == exam_session.id, SkillMark.candidate_id.in_(chunk),
                SkillMark.kind == EXAMINER).order_by(SkillMark.id)):
            marks[(station_id, candidate_id)].append(total)
        for row in session.scalars(select(StationScore).where(
                StationScore.session_id == exam_session.id, StationScore.candidate_id.in_(chunk))):
            rows[(row.station_id, row.candidate_id)] = row
    now = utcnow()
    changed = []
    for station_id, candidate_id in sorted(pairs):
        station = stations[station_id]
        row = rows.get((station_id, candidate_id))
        if row is None:
            row = rows[(station_id, candidate_id)] = StationScore(
                session_id=exam_session.id, station_id=station_id, candidate_id=candidate_id, status=WAITING)
            session.add(row)
        if row.status == DECIDED:
            continue  # the chief examiner's decision stands
        given = marks.get((station_id, candidate_id), [])
        row.updated_at = now
        if len(given) < 2:
            row.status, row.score = WAITING, None
            continue
        first, second = given[0], given[1]
        row.difference = abs(first - second)
        if needs_adjudication(first, second, station.tolerance):
            row.status, row.score = NEEDS_CHIEF, None
        else:
            row.status, row.score = AGREED, final_mark([first, second], "mean")
        changed.append((row, station))
    session.flush()
    if changed:
        session.execute(insert(AuditEvent), [
            {"at": now, "actor": actor, "action": "skill.station_score", "entity": "skill_station_score",
             "entity_id": str(row.id), "reason": "", "before": None,
             "after": {"status": row.status, "score": row.score, "difference": row.difference,
                       "tolerance": station.tolerance}}
            for row, station in changed
        ])
    final: dict[int, dict[int, float]] = defaultdict(dict)
    for (station_id, candidate_id), row in rows.items():
        if row.status in FINAL_STATES and row.score is not None:
            final[candidate_id][station_id] = row.score
    completed = [c for c in candidate_ids if all(s in final[c] for s in stations)]
    ordered = sitting_stations(session, exam_session.id)
    for candidate_id in completed:
        complete_part(session, exam_session, candidate_id, actor, scores=final[candidate_id], refresh=False,
                      stations=ordered)
    if completed:  # one pass over the level outcomes for the whole batch, not one per candidate
        refresh_outcomes(session, completed, exam_session.level, actor, PART_REASON)


def decide(
    session: Session, session_id: int, station_id: int, candidate_id: int, chief: User, values: Sequence[Any],
    reason: str, actor: str, source: str = TABLET,
) -> StationScore:
    """The chief examiner's (主考) marks where the two examiners differ beyond the tolerance: they are the station's
    score (the grading rule "adjudicated"). Needs a reason. Commits."""
    with transaction(session):
        exam_session = _sitting(session, session_id)
        station = _station_of(session, exam_session, station_id)
        if not is_chief_examiner(session, exam_session.id, chief.id):
            raise SkillError(f"{chief.display_name} 不是本场次的主考", 404)
        row = _score_row(session, exam_session.id, station.id, candidate_id)
        if row.status != NEEDS_CHIEF:
            raise SkillError("该考生在此考站的两名考评员评分未超出允许差值，不需要主考裁定", 409)
        if not (reason or "").strip():
            raise SkillError("主考裁定须写明理由", field="reason")
        _check_open(session, exam_session, candidate_id)
        marks = check_criteria(station, values)
        independent = [m.total for m in session.scalars(select(SkillMark).where(
            SkillMark.session_id == exam_session.id, SkillMark.station_id == station.id,
            SkillMark.candidate_id == candidate_id, SkillMark.kind == EXAMINER).order_by(SkillMark.id))]
        mark = SkillMark(session_id=exam_session.id, station_id=station.id, candidate_id=candidate_id,
                         examiner_id=chief.id, kind=CHIEF, criteria=marks, total=math.fsum(marks),
                         comment=reason.strip()[:2000], source=source, entered_by=actor)
        session.add(mark)
        row.status = DECIDED
        row.score = final_mark(independent, "adjudicated", adjudicated=mark.total)
        row.updated_at = utcnow()
        session.flush()
        audit(session, actor, "skill.decide", "skill_station_score", row.id,
              after={"station": station.code, "candidate_id": candidate_id, "marks": independent,
                     "decided": row.score}, reason=reason.strip()[:500])
        complete_part(session, exam_session, candidate_id, actor)
    return row


def mark_absent(session: Session, session_id: int, candidate_id: int, reason: str, actor: str) -> int:
    """Record a candidate who did not come to the skill sitting (缺考): their unscored stations say so, no skill result
    is written and a release no longer waits for them. Refused once anyone has scored them. Commits; returns the
    stations marked."""
    with transaction(session):
        exam_session = _sitting(session, session_id)
        ticket = sitting_candidate(session, exam_session, candidate_id)
        if not (reason or "").strip():
            raise SkillError("记为缺考须写明原因", field="reason")
        scored = session.scalar(select(SkillMark.id).where(SkillMark.session_id == exam_session.id,
                                                           SkillMark.candidate_id == candidate_id).limit(1))
        if scored is not None:
            raise SkillError(f"准考证 {ticket.number} 的考生已有评分，不能记为缺考", 409)
        stations = sitting_stations(session, exam_session.id)
        for station in stations:
            row = _score_row(session, exam_session.id, station.id, candidate_id)
            row.status, row.score, row.updated_at = ABSENT, None, utcnow()
        session.flush()
        audit(session, actor, "skill.absent", "exam_session", exam_session.id,
              after={"candidate_id": candidate_id, "ticket": ticket.number}, reason=reason.strip()[:500])
    return len(stations)


# ---------------------------------------------------------------- the part score


def part_fields(stations: Sequence[Station], scores: dict[int, float], pass_mark: float) -> dict[str, Any]:
    """The skill part as a result's fields: the stations' scores weighted as their sheets say, out of 100."""
    earned = {s.code: scores[s.id] for s in stations}
    score = weighted_part_score(earned, {s.code: s.max_points for s in stations},
                                {s.code: s.weight for s in stations})
    return {
        "score": score,
        "points": math.fsum(earned.values()),
        "max_points": math.fsum(s.max_points for s in stations),
        "passed": part_passed(score, pass_mark),
        "exempt": False,
        "detail": earned,
        "basis": {"observed": True, "stations": [
            {"code": s.code, "version": s.version, "weight": s.weight, "max_points": s.max_points,
             "tolerance": s.tolerance} for s in stations]},
    }


def complete_part(
    session: Session, exam_session: ExamSession, candidate_id: int, actor: str,
    scores: dict[int, float] | None = None, refresh: bool = True, stations: Sequence[Station] | None = None,
) -> Result | None:
    """Once every station of the sitting has the candidate's score, store their skill result (the results domain
    refreshes the level outcome, with its history). Flushes; None while a station is still open. `scores`: the
    final station scores (station id → score) when the caller has them; `refresh=False`: the caller refreshes the
    level outcomes of a batch at once."""
    stations = stations if stations is not None else sitting_stations(session, exam_session.id)
    if scores is None:
        scores = {
            r.station_id: r.score for r in session.scalars(select(StationScore).where(
                StationScore.session_id == exam_session.id, StationScore.candidate_id == candidate_id,
                StationScore.status.in_(FINAL_STATES)))
        }
    if not stations or any(s.id not in scores for s in stations):
        return None
    fields = part_fields(stations, scores, exam_session.blueprint.pass_mark)
    previous = session.scalar(select(Result).where(
        Result.session_id == exam_session.id, Result.candidate_id == candidate_id, Result.part == PART,
        Result.superseded.is_(False)))
    return store_completed(session, fields, previous, PART_REASON, actor, candidate_id=candidate_id,
                           exam_session=exam_session, attempt_id=None, part=PART, refresh=refresh)
