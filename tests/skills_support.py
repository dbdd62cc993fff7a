"""Skills' test helpers (tests/skills): a level-5 skill sitting with three stations, two examiners each, a chief examiner, and three candidates whose
theory part is already known (passed 80, failed 50, exempt)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from certificates_support import make_candidates, make_organisations
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.results.models import RELEASED, Result
from exam_server.results.outcomes import refresh_outcomes
from exam_server.sessions.models import Candidate, ExamSession
from exam_server.skills.operations import add_candidates, create_skill_sitting, set_up_sitting
from exam_server.skills.sheets import ensure_stations
from item_bank.db import utcnow

PASSWORD = "pw-staff"
STATIONS = ("S5-01", "S5-02", "S5-03")


@dataclass
class SkillWorld:
    sitting: ExamSession
    other: ExamSession
    candidates: list[Candidate]
    users: dict[str, User]


def _user(session: Session, username: str, roles: list[str], organisation_id: int | None) -> User:
    user = User(username=username, display_name=f"考评 {username}", roles=roles, organisation_id=organisation_id,
                password_hash=hash_password(PASSWORD, "low"))
    session.add(user)
    return user


def make_skill_world(session: Session) -> SkillWorld:
    centre = make_organisations(session)
    users = {name: _user(session, name, roles, centre.id) for name, roles in (
        ("e1", ["grader"]), ("e2", ["grader"]), ("e3", ["grader"]), ("e4", ["grader"]), ("e5", ["grader"]),
        ("e6", ["grader"]), ("zk", ["chief_grader"]), ("staff", ["centre_staff"]))}
    session.commit()
    ensure_stations(session, "test")
    starts = utcnow() - dt.timedelta(days=2)
    theory = create_skill_sitting(session, code="T5", name="理论", level=5, starts_at=starts, duration_s=3600,
                                  centre_id=centre.id, actor="test")
    theory.part = "theory"  # a stand-in theory sitting: only its results matter here
    sitting = create_skill_sitting(session, code="K5", name="五级操作技能", level=5, starts_at=starts,
                                   duration_s=3 * 3600, centre_id=centre.id, actor="test")
    other = create_skill_sitting(session, code="K5B", name="另一场操作技能", level=5, starts_at=starts,
                                 duration_s=3 * 3600, centre_id=centre.id, actor="test")
    people = make_candidates(session, 3)
    add_candidates(session, sitting, [c.id for c in people], "test")
    add_candidates(session, other, [people[0].id], "test")
    for c, (score, exempt) in zip(people, ((80.0, False), (50.0, False), (None, True)), strict=True):
        session.add(Result(candidate_id=c.id, session_id=theory.id, level=5, part="theory", score=score,
                           points=score, max_points=None if exempt else 100.0, passed=exempt or score >= 60,
                           exempt=exempt, status=RELEASED, released_at=utcnow(), reason="测试"))
    session.flush()
    refresh_outcomes(session, [c.id for c in people], 5, "test", "理论成绩")
    session.commit()
    set_up_sitting(session, sitting, [("S5-01", [users["e1"], users["e2"]]), ("S5-02", [users["e3"], users["e4"]]),
                                      ("S5-03", [users["e5"], users["e6"]])], users["zk"], "test")
    set_up_sitting(session, other, [("S5-01", [users["e3"], users["e4"]])], users["zk"], "test")
    return SkillWorld(sitting, other, people, users)
