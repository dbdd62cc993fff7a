"""A skill sitting observed and scored with made-up marks, for `examctl demo`'s finished sitting and for tests.

The same operations staff and examiners use: a skill sitting, the theory sitting's candidates ticketed, its
stations with two examiners each and a chief examiner, every examiner's marks through `add_mark`, and the chief
examiner's decision through `decide` for the one case planted beyond the tolerance.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.sessions.models import ExamSession, Ticket
from exam_server.skills.models import SHEET, TABLET, Station
from exam_server.skills.operations import (
    MarkEntry,
    add_candidates,
    add_marks,
    create_skill_sitting,
    decide,
    set_up_sitting,
    sitting_stations,
)
from exam_server.skills.sheets import ensure_stations
from item_bank.db import transaction


@dataclass
class SimulatedSkill:
    sitting: ExamSession
    candidates: int
    marks: int
    decided: list[tuple[str, str]]  # (ticket number, station code) the chief examiner decided


def _on_step(value: float, step: float, top: float) -> float:
    return min(top, max(0.0, round(value / step) * step))


def _marks(station: Station, ability: float, rng: random.Random) -> list[float]:
    return [_on_step(ability * float(c["points"]) + rng.uniform(-1, 1), station.mark_step, float(c["points"]))
            for c in station.criteria]


def _second(station: Station, first: list[float], rng: random.Random) -> list[float]:
    """Another examiner's marks close to the first's: one criterion a step apart at most (within any tolerance)."""
    marks = list(first)
    i = rng.randrange(len(marks))
    marks[i] = _on_step(marks[i] + rng.choice((-1, 0, 1)) * station.mark_step, station.mark_step,
                        float(station.criteria[i]["points"]))
    return marks


def simulate_skill_part(
    session: Session,
    theory: ExamSession,
    examiners: Sequence[User],
    chief: User,
    actor: str,
    *,
    code: str | None = None,
    seed: int = 15,
) -> SimulatedSkill:
    """The skill part of `theory`'s level for its candidates, the day after it: stations of the shipped sheets,
    `examiners` (two) at every station, `chief` deciding the first candidate's last station, whose two marks are
    planted beyond the tolerance. Commits."""
    ensure_stations(session, actor)
    session.commit()
    starts = theory.starts_at + dt.timedelta(days=1)
    sitting = create_skill_sitting(
        session, code=code or f"SK-{starts:%Y%m%d}", level=theory.level, starts_at=starts, duration_s=4 * 3600,
        name=f"{starts:%Y年%m月}保安员（{theory.level}级）操作技能 考站实操考核（已结束）",
        centre_id=theory.centre_id, actor=actor)
    ids = list(session.scalars(select(Ticket.candidate_id).where(Ticket.session_id == theory.id,
                                                                Ticket.status == "active").order_by(Ticket.number)))
    add_candidates(session, sitting, ids, actor)
    session.commit()
    codes = [s.code for s in session.scalars(select(Station).where(
        Station.level == theory.level, Station.retired.is_(False)).order_by(Station.code))]
    set_up_sitting(session, sitting, [(c, list(examiners)) for c in codes], chief, actor)
    stations = sitting_stations(session, sitting.id)
    rng = random.Random(seed)
    tickets = dict(session.execute(select(Ticket.candidate_id, Ticket.number).where(
        Ticket.session_id == sitting.id)).all())
    planted = (ids[0], stations[-1]) if ids and stations else None
    entries = []
    a, b = examiners[0], examiners[1]
    for candidate_id in ids:
        ability = min(0.97, max(0.3, rng.gauss(0.72, 0.13)))
        for station in stations:
            first = _marks(station, ability, rng)
            if planted == (candidate_id, station):
                first = [float(c["points"]) for c in station.criteria]
                second = [_on_step(0.4 * float(c["points"]), station.mark_step, float(c["points"]))
                          for c in station.criteria]
            else:
                second = _second(station, first, rng)
            # Most on tablets; one second mark in ten was a paper sheet typed in by the centre.
            entries.append(MarkEntry(station, candidate_id, a, first, "", TABLET))
            entries.append(MarkEntry(station, candidate_id, b, second, "", SHEET if len(entries) % 20 == 1 else TABLET))
    with transaction(session):
        add_marks(session, sitting, entries, actor)
    count = len(entries)
    decided = []
    if planted is not None:
        candidate_id, station = planted
        middle = [_on_step(0.75 * float(c["points"]), station.mark_step, float(c["points"])) for c in station.criteria]
        decide(session, sitting.id, station.id, candidate_id, chief, middle,
               "两名考评员评分相差超过允许差值；主考复看现场录像后按操作规范重新评定", f"user:{chief.username}")
        decided.append((tickets[candidate_id], station.code))
    return SimulatedSkill(sitting, len(ids), count, decided)
