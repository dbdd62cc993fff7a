"""Tables of the practical-skill assessment (操作技能, levels 5-3): stations with their score sheets, the stations
and examiners of a skill sitting, each examiner's marks and each station's score.

A station (考站) is a task drawn from the skill part of the knowledge tree (a 技能要求 area of level L, part
"skill") with its score sheet (评分表: criteria, maximum points, descriptors, the tolerance between the two
examiners and its weight in the part score). Stations are data (skills/stations.json); a station already
scored is never edited: a changed sheet is a new version and the old one stays for the sittings that used it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_server.core.models import User
from exam_server.sessions.models import Candidate, ExamSession
from item_bank.db import Base, utcnow
from item_bank.models import KnowledgeArea

# Who an assignment is: one of a station's two examiners (考评员), or the sitting's chief examiner (主考).
EXAMINER, CHIEF = "examiner", "chief"
# How a mark came in: the examiner's tablet, a printed score sheet typed in later, an Excel import.
TABLET, SHEET, IMPORT = "tablet", "sheet", "import"
SOURCE_LABELS = {TABLET: "平板评分", SHEET: "纸质评分表录入", IMPORT: "Excel 导入"}

# A station score's state: waiting for marks, final at the mean, waiting for the chief, final at the chief's mark,
# or the candidate absent (缺考: no skill result; a release does not wait for them).
WAITING, AGREED, NEEDS_CHIEF, DECIDED, ABSENT = "waiting", "agreed", "needs_chief", "decided", "absent"
SCORE_LABELS = {WAITING: "待评", AGREED: "已定分（两评平均）", NEEDS_CHIEF: "待主考裁定", DECIDED: "已定分（主考裁定）",
                ABSENT: "缺考"}
FINAL_STATES = (AGREED, DECIDED)


class Station(Base):
    """A station and its score sheet (考站与评分表), one version of it."""

    __tablename__ = "skill_station"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    level: Mapped[int] = mapped_column(Integer)
    area_id: Mapped[int] = mapped_column(ForeignKey("knowledge_area.id"))
    title: Mapped[str] = mapped_column(String(200))
    # What the candidate is asked to do (情景与任务), read aloud or handed over at the station.
    task: Mapped[str] = mapped_column(Text, default="")
    duration_min: Mapped[int] = mapped_column(Integer, default=10)
    # Share of the part score (the sitting's stations' weights are normalised to 100).
    weight: Mapped[float] = mapped_column(Float)
    # The largest allowed difference between the two examiners' totals; beyond it the chief examiner decides.
    tolerance: Mapped[float] = mapped_column(Float)
    mark_step: Mapped[float] = mapped_column(Float, default=0.5)
    # [{"name": "查验证件", "points": 10, "descriptors": ["10：……", "5：……", "0：……"]}]
    criteria: Mapped[list[Any]] = mapped_column(default=list)
    max_points: Mapped[float] = mapped_column(Float)
    # A newer version replaced it (sittings that used it keep it).
    retired: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    area: Mapped[KnowledgeArea] = relationship()


class SittingStation(Base):
    """A station used in a skill sitting, in the order candidates go round."""

    __tablename__ = "skill_sitting_station"
    __table_args__ = (UniqueConstraint("session_id", "station_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("skill_station.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)

    station: Mapped[Station] = relationship()
    session: Mapped[ExamSession] = relationship()


class Examiner(Base):
    """A person scoring at a skill sitting: an examiner at one station, or the sitting's chief examiner."""

    __tablename__ = "skill_examiner"
    __table_args__ = (UniqueConstraint("session_id", "station_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    # None for the chief examiner (主考), who decides at every station of the sitting.
    station_id: Mapped[int | None] = mapped_column(ForeignKey("skill_station.id"), nullable=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default=EXAMINER)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()
    station: Mapped[Station | None] = relationship()


class SkillMark(Base):
    """One examiner's marks for one candidate at one station (per criterion), or the chief examiner's decision.
    Never edited: a submitted mark stays as it was given."""

    __tablename__ = "skill_mark"
    __table_args__ = (UniqueConstraint("session_id", "station_id", "candidate_id", "examiner_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("skill_station.id"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    examiner_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    # EXAMINER (an independent mark) or CHIEF (the chief examiner's decision)
    kind: Mapped[str] = mapped_column(String(20), default=EXAMINER)
    criteria: Mapped[list[Any]] = mapped_column(default=list)
    total: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default=TABLET)
    # Who typed it in (the examiner on a tablet; centre staff for a paper sheet or an import).
    entered_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    examiner: Mapped[User] = relationship()


class StationScore(Base):
    """A candidate's score at a station: waiting, the mean of the two examiners, or the chief examiner's mark."""

    __tablename__ = "skill_station_score"
    __table_args__ = (UniqueConstraint("session_id", "station_id", "candidate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("skill_station.id"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidate.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=WAITING)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    difference: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    candidate: Mapped[Candidate] = relationship()
    station: Mapped[Station] = relationship()
