"""Reads of the practical-skill assessment, for its screens, the release check and reports.

Reports (exam_server/reports) read skill figures here rather than from the tables:

    skill_sittings(session, where=None)               # observed skill sittings (those with stations)
    station_scores(session, session_id)               # every candidate × station: status, score, examiners' totals
    open_work(session, exam_session, candidate_ids)    # what stops a release: (code, name, state)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from exam_server.applications.models import ApplicantPhoto, Application
from exam_server.sessions.models import Candidate, ExamSession, Ticket
from exam_server.skills.models import (
    ABSENT,
    CHIEF,
    EXAMINER,
    FINAL_STATES,
    NEEDS_CHIEF,
    SCORE_LABELS,
    WAITING,
    Examiner,
    SittingStation,
    SkillMark,
    Station,
    StationScore,
)


def current_stations(session: Session, level: int | None = None) -> list[Station]:
    """Every station in use (its newest version), by level (5 first) and code."""
    query = select(Station).where(Station.retired.is_(False))
    if level is not None:
        query = query.where(Station.level == level)
    return list(session.scalars(query.order_by(Station.level.desc(), Station.code)))


def skill_sittings(session: Session, where: ColumnElement[bool] | None = None) -> list[ExamSession]:
    """The sittings that have stations (observed skill sittings), newest first."""
    query = select(ExamSession).where(ExamSession.id.in_(select(SittingStation.session_id)))
    if where is not None:
        query = query.where(where)
    return list(session.scalars(query.order_by(ExamSession.starts_at.desc())))


@dataclass
class Assignment:
    """Where a person scores: a sitting and a station (an examiner), or a sitting as its chief examiner."""

    sitting: ExamSession
    station: Station | None
    role: str
    open_count: int = 0


def assignments_of(session: Session, user_id: int) -> list[Assignment]:
    """The sittings and stations a person examines or chairs, with how many candidates still need their mark
    (an examiner) or a decision (the chief)."""
    out = []
    for examiner in session.scalars(select(Examiner).where(Examiner.user_id == user_id).order_by(Examiner.id)):
        sitting = session.get(ExamSession, examiner.session_id)
        if sitting is None:
            continue
        if examiner.role == CHIEF:
            waiting = len(list(session.scalars(select(StationScore.id).where(
                StationScore.session_id == sitting.id, StationScore.status == NEEDS_CHIEF))))
            out.append(Assignment(sitting, None, CHIEF, waiting))
            continue
        candidates = len(list(session.scalars(select(Ticket.id).where(Ticket.session_id == sitting.id,
                                                                     Ticket.status == "active"))))
        done = len(list(session.scalars(select(SkillMark.id).where(
            SkillMark.session_id == sitting.id, SkillMark.station_id == examiner.station_id,
            SkillMark.examiner_id == user_id, SkillMark.kind == EXAMINER))))
        out.append(Assignment(sitting, examiner.station, EXAMINER, candidates - done))
    return out


@dataclass
class SheetRow:
    """A candidate on an examiner's list: only the examiner's own mark, never the other's or the score."""

    candidate_id: int
    ticket: str
    name: str
    my_total: float | None


def examiner_rows(session: Session, session_id: int, station_id: int, examiner_id: int) -> list[SheetRow]:
    mine = dict(session.execute(select(SkillMark.candidate_id, SkillMark.total).where(
        SkillMark.session_id == session_id, SkillMark.station_id == station_id, SkillMark.examiner_id == examiner_id,
        SkillMark.kind == EXAMINER)).all())
    rows = session.execute(
        select(Ticket.candidate_id, Ticket.number, Candidate.name).join(Candidate, Candidate.id == Ticket.candidate_id)
        .where(Ticket.session_id == session_id, Ticket.status == "active").order_by(Ticket.number)).all()
    return [SheetRow(cid, number, name, mine.get(cid)) for cid, number, name in rows]


def my_mark(session: Session, session_id: int, station_id: int, candidate_id: int, examiner_id: int) -> SkillMark | None:
    return session.scalar(select(SkillMark).where(
        SkillMark.session_id == session_id, SkillMark.station_id == station_id, SkillMark.candidate_id == candidate_id,
        SkillMark.examiner_id == examiner_id, SkillMark.kind == EXAMINER))


@dataclass
class ScoreLine:
    """A candidate at a station as staff and the chief examiner see it."""

    candidate_id: int
    ticket: str
    name: str
    station: Station
    status: str
    score: float | None
    marks: list[SkillMark] = field(default_factory=list)
    decision: SkillMark | None = None

    @property
    def status_label(self) -> str:
        return SCORE_LABELS.get(self.status, self.status)


def station_scores(session: Session, session_id: int, status: str | None = None) -> list[ScoreLine]:
    """Every candidate × station of the sitting (status WAITING where nobody has scored yet)."""
    stations = list(session.scalars(
        select(Station).join(SittingStation, SittingStation.station_id == Station.id)
        .where(SittingStation.session_id == session_id).order_by(SittingStation.position)))
    people = session.execute(
        select(Ticket.candidate_id, Ticket.number, Candidate.name).join(Candidate, Candidate.id == Ticket.candidate_id)
        .where(Ticket.session_id == session_id, Ticket.status == "active").order_by(Ticket.number)).all()
    scores = {(r.station_id, r.candidate_id): r for r in session.scalars(
        select(StationScore).where(StationScore.session_id == session_id))}
    marks: dict[tuple[int, int], list[SkillMark]] = defaultdict(list)
    for m in session.scalars(select(SkillMark).where(SkillMark.session_id == session_id).order_by(SkillMark.id)):
        marks[(m.station_id, m.candidate_id)].append(m)
    out = []
    for cid, number, name in people:
        for station in stations:
            row = scores.get((station.id, cid))
            given = marks.get((station.id, cid), [])
            line = ScoreLine(cid, number, name, station, row.status if row else WAITING, row.score if row else None,
                             [m for m in given if m.kind == EXAMINER],
                             next((m for m in given if m.kind == CHIEF), None))
            if status is None or line.status == status:
                out.append(line)
    return out


def progress(lines: Iterable[ScoreLine]) -> dict[str, Any]:
    """Counts by state over score lines, and the candidates whose every station is final."""
    by_status: dict[str, int] = defaultdict(int)
    final_by_candidate: dict[int, bool] = {}
    for line in lines:
        by_status[line.status] += 1
        final_by_candidate[line.candidate_id] = final_by_candidate.get(line.candidate_id, True) and (
            line.status in FINAL_STATES)
    return {"by_status": dict(by_status), "complete": sum(final_by_candidate.values()),
            "candidates": len(final_by_candidate)}


def open_work(session: Session, exam_session: ExamSession, candidate_ids: Iterable[int] | None = None
              ) -> list[tuple[str, str, str]]:
    """The station scores of a skill sitting that are not final, as (station code, candidate name, state): a release
    waits for them."""
    if session.scalar(select(SittingStation.id).where(SittingStation.session_id == exam_session.id).limit(1)) is None:
        return []
    wanted = None if candidate_ids is None else set(candidate_ids)
    return [
        (f"考站 {line.station.code}", line.name, f"操作技能，{line.status_label}")
        for line in station_scores(session, exam_session.id)
        if line.status not in (*FINAL_STATES, ABSENT) and (wanted is None or line.candidate_id in wanted)
    ]


def examiners_of(session: Session, session_id: int) -> list[Examiner]:
    return list(session.scalars(select(Examiner).where(Examiner.session_id == session_id)
                                .order_by(Examiner.role.desc(), Examiner.station_id, Examiner.id)))


def candidate_photo(session: Session, candidate: Candidate, level: int) -> tuple[str, bytes] | None:
    """The ID photo of the candidate's newest application at `level` with one (examiners check who stands before
    them: an observed assessment is not blind), or None."""
    row = session.execute(
        select(ApplicantPhoto.mime, ApplicantPhoto.data).join(Application, Application.photo_id == ApplicantPhoto.id)
        .where(Application.id_number == candidate.id_number, Application.level == level)
        .order_by(Application.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row is not None else None
