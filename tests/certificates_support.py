"""Certificates' test helpers (tests/certificates): the codes the number is made of, and candidates who passed a level."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.certificates.numbering import set_code
from exam_server.organisations.models import Centre, City, Province
from exam_server.results.models import RELEASED, Result
from exam_server.results.outcomes import refresh_outcomes
from exam_server.sessions.models import Candidate
from item_bank.db import utcnow

PROVINCE_CODE, CITY_CODE, CENTRE_CODE, INSTITUTION_TYPE = "44", "03", "017", 0
ISSUER = "某省人力资源和社会保障厅"


def set_codes(session: Session, centre: Centre, *, centre_code: str = CENTRE_CODE,
              institution_type: int = INSTITUTION_TYPE) -> None:
    city = centre.parent
    assert city is not None and city.parent is not None
    set_code(session, city.parent, PROVINCE_CODE, issuer=ISSUER)
    set_code(session, city, CITY_CODE)
    set_code(session, centre, centre_code, institution_type=institution_type)
    session.commit()


def make_organisations(session: Session) -> Centre:
    """A province, a city and a centre, without their codes."""
    province = Province(code="P", name="测试省")
    session.add(province)
    session.flush()
    city = City(code="CY1", name="测试市", parent_id=province.id)
    session.add(city)
    session.flush()
    centre = Centre(code="C1", name="测试鉴定中心", parent_id=city.id)
    session.add(centre)
    session.commit()
    return centre


def make_candidates(session: Session, n: int, prefix: str = "44030119900101") -> list[Candidate]:
    people = [Candidate(id_number=f"{prefix}{i:04d}", name=f"考生{i:04d}", guard_cert_no=f"G{i}",
                        guard_cert_date=utcnow().date()) for i in range(n)]
    session.add_all(people)
    session.commit()
    return people


def pass_level(session: Session, sitting_id: int, candidate_ids: Sequence[int], level: int = 5,
               theory: float = 82.0, skill: float = 71.5) -> None:
    """Released, passing theory and skill results in the sitting, and the stored outcomes they make."""
    now = utcnow()
    for cid in candidate_ids:
        for part, score in (("theory", theory), ("skill", skill)):
            session.add(Result(candidate_id=cid, session_id=sitting_id, level=level, part=part, score=score,
                               points=score, max_points=100.0, passed=score >= 60, status=RELEASED,
                               released_at=now, reason="测试"))
    session.flush()
    refresh_outcomes(session, candidate_ids, level, "test", "测试成绩")
    session.commit()


def seeded_centre(session: Session) -> Centre:
    """The centre seed_exam made (the sitting fixture's)."""
    centre = session.scalar(select(Centre))
    assert centre is not None
    return centre
