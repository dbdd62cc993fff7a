"""A small hand-countable world for the reports' tests (tests/reports): two centres, two cities, three pilot units,
two test sites, four sittings in the period and one outside it, candidates whose fate is written out below.

Centre C1 (city 甲市) holds sites S1 and S2 and units U1 (甲市) and U2 (乙市); centre C2 (乙市) holds unit U3.
Period 2026-03-01 … 2026-04-30, counted on 2026-05-01.

  T5  level 5 theory, 2026-03-10, site S1 (C1)   a 80 pass · b 50 fail · c absent · d 60 pass · e 90 pass · f exempt
  K5  level 5 skill,  2026-03-11, site S2 (C1)   a 70 pass · b absent · d 40 fail · e 65 pass ·
                                                 f 75 pass (observed: a result, no attempt started)
  T4  level 4 theory, 2026-04-15, S1 and S2 (C1) g (S1) 55 fail · h (S2) absent
  X4  level 4 theory, 2026-06-01, S1 (C1)        d 70 pass — outside the period
  M5  level 5 theory, 2026-03-20, site S3 (C2)   k 70 pass

Units: a b c d → U1; e f g h → U2; k → U3. Applications (all filed 2026-03-01): a…h and k ticketed, i (U1, level 5)
rejected by its unit, j (U2, level 4) still waiting. Certificates (2026-04-20): a, e, f at level 5 (C1), k (C2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from exam_server.applications.models import (
    SUBMITTED,
    TICKETED,
    UNIT_REJECTED,
    Application,
    ApplicationWindow,
)
from exam_server.certificates.models import Certificate
from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.delivery.models import SCHEDULED, SCORED, Attempt
from exam_server.organisations.models import Centre, City, PilotUnit, Province
from exam_server.results.models import RELEASED, Result
from exam_server.results.outcomes import refresh_outcomes
from exam_server.sessions.models import (
    Candidate,
    ExamSession,
    Room,
    Seat,
    SessionExemption,
    SessionRoom,
    Site,
    Ticket,
)
from item_bank.models import Blueprint, Form

BEIJING = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
PASSWORD = "pw-reports"


@dataclass
class World:
    centres: dict[str, Centre] = field(default_factory=dict)
    units: dict[str, PilotUnit] = field(default_factory=dict)
    people: dict[str, Candidate] = field(default_factory=dict)
    sittings: dict[str, ExamSession] = field(default_factory=dict)


def build(session: Session) -> World:
    w = World()
    province = Province(code="P", name="测试省")
    session.add(province)
    session.flush()
    cities = {}
    for code, name in (("CA", "甲市"), ("CB", "乙市")):
        cities[code] = City(code=code, name=name, parent_id=province.id)
        session.add(cities[code])
    session.flush()
    w.centres["C1"] = Centre(code="C1", name="甲市鉴定中心", parent_id=cities["CA"].id)
    w.centres["C2"] = Centre(code="C2", name="乙市鉴定中心", parent_id=cities["CB"].id)
    session.add_all(w.centres.values())
    session.flush()
    for code, city, centre in (("U1", "CA", "C1"), ("U2", "CB", "C1"), ("U3", "CB", "C2")):
        w.units[code] = PilotUnit(code=code, name=f"试点单位{code}", parent_id=cities[city].id,
                                  centre_id=w.centres[centre].id, levels=[5, 4])
    session.add_all(w.units.values())
    session.flush()
    seats: dict[str, list[Seat]] = {}
    rooms: dict[str, Room] = {}
    for code, centre in (("S1", "C1"), ("S2", "C1"), ("S3", "C2")):
        site = Site(code=code, name=f"考点{code}", city="", centre_id=w.centres[centre].id)
        session.add(site)
        session.flush()
        room = Room(site_id=site.id, code=f"{code}-R1", name="第一考场")
        session.add(room)
        session.flush()
        rooms[code] = room
        seats[code] = [Seat(room_id=room.id, number=n) for n in range(1, 11)]
        session.add_all(seats[code])
    session.flush()
    blueprint = Blueprint(name="报表测试蓝图", level=5, part="theory", duration_s=3600)
    session.add(blueprint)
    session.flush()
    form = Form(code="RPT-F1", blueprint_id=blueprint.id)
    session.add(form)
    session.flush()
    windows = {}
    for level in (5, 4):
        windows[level] = ApplicationWindow(level=level, part="theory", opens_on=dt.date(2026, 2, 1),
                                           closes_on=dt.date(2026, 3, 31), created_by="test")
        session.add(windows[level])
    session.flush()
    filed = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)

    def person(name: str, level: int, unit: str, status: str = TICKETED) -> Application:
        n = len(w.people) + 1
        id_number = f"1101011990010{n:04d}"[:17] + "X"
        if status == TICKETED:
            w.people[name] = Candidate(id_number=id_number, name=f"考生{name}", guard_cert_no=f"G{n}",
                                       guard_cert_date=dt.date(2020, 1, 1))
            session.add(w.people[name])
        else:
            w.people[name] = None  # type: ignore[assignment]
        application = Application(
            name=f"考生{name}", id_number=id_number, sex="男", birth_date=dt.date(1990, 1, 1),
            guard_cert_no=f"G{n}", guard_cert_date=dt.date(2020, 1, 1), level=level, parts=["theory", "skill"],
            window_id=windows[level].id, unit_id=w.units[unit].id, training_unit_id=w.units[unit].id,
            channel="screen", status=status, created_by="test", created_at=filed)
        session.add(application)
        return application

    apps = {}
    for name, level, unit in (("a", 5, "U1"), ("b", 5, "U1"), ("c", 5, "U1"), ("d", 5, "U1"), ("e", 5, "U2"),
                              ("f", 5, "U2"), ("g", 4, "U2"), ("h", 4, "U2"), ("k", 5, "U3")):
        apps[name] = person(name, level, unit)
    person("i", 5, "U1", UNIT_REJECTED)
    person("j", 4, "U2", SUBMITTED)
    session.flush()

    def sitting(code: str, level: int, part: str, day: dt.date, centre: str, sites: list[str]) -> ExamSession:
        s = ExamSession(code=code, name=f"场次{code}", level=level, part=part, blueprint_id=blueprint.id,
                        starts_at=dt.datetime.combine(day, dt.time(9, 0), BEIJING).astimezone(dt.UTC),
                        duration_s=5400, status="scheduled", centre_id=w.centres[centre].id)
        session.add(s)
        session.flush()
        for site in sites:
            session.add(SessionRoom(session_id=s.id, room_id=rooms[site].id))
        w.sittings[code] = s
        return s

    T5 = sitting("T5", 5, "theory", dt.date(2026, 3, 10), "C1", ["S1"])
    K5 = sitting("K5", 5, "skill", dt.date(2026, 3, 11), "C1", ["S2"])
    T4 = sitting("T4", 4, "theory", dt.date(2026, 4, 15), "C1", ["S1", "S2"])
    X4 = sitting("X4", 4, "theory", dt.date(2026, 6, 1), "C1", ["S1"])
    M5 = sitting("M5", 5, "theory", dt.date(2026, 3, 20), "C2", ["S3"])
    session.flush()
    used: dict[str, int] = {}

    def seat(s: ExamSession, name: str, site: str, score: float | None, started: bool = True) -> None:
        """A ticket, an attempt (started or not) and, if `score`, the released result of the sitting's part."""
        cand = w.people[name]
        index = used.get(site, 0)
        used[site] = index + 1
        ticket = Ticket(number=f"{s.code}-{name}", session_id=s.id, candidate_id=cand.id,
                        seat_id=seats[site][index % 10].id, password_hash="x", form_id=form.id,
                        application_id=apps[name].id)
        session.add(ticket)
        session.flush()
        session.add(Attempt(ticket_id=ticket.id, session_id=s.id, candidate_id=cand.id, form_id=form.id,
                            status=SCORED if started else SCHEDULED, seed=1, remaining_s=0.0))
        if score is not None:
            result(s, name, s.part, score)

    def result(s: ExamSession, name: str, part: str, score: float | None, exempt: bool = False) -> None:
        session.add(Result(candidate_id=w.people[name].id, session_id=s.id, level=s.level, part=part, score=score,
                           points=score, max_points=100.0, passed=exempt or (score or 0) >= 60, exempt=exempt,
                           status=RELEASED, released_at=NOW, reason="测试"))

    seat(T5, "a", "S1", 80)
    seat(T5, "b", "S1", 50)
    seat(T5, "c", "S1", None, started=False)
    seat(T5, "d", "S1", 60)
    seat(T5, "e", "S1", 90)
    session.add(SessionExemption(session_id=T5.id, candidate_id=w.people["f"].id, reason="保安员证未满 3 年"))
    result(T5, "f", "theory", None, exempt=True)
    seat(K5, "a", "S2", 70)
    seat(K5, "b", "S2", None, started=False)
    seat(K5, "d", "S2", 40)
    seat(K5, "e", "S2", 65)
    seat(K5, "f", "S2", None, started=False)
    result(K5, "f", "skill", 75)  # observed skill assessment: a result, no attempt started
    seat(T4, "g", "S1", 55)
    seat(T4, "h", "S2", None, started=False)
    seat(X4, "d", "S1", 70)
    seat(M5, "k", "S3", 70)
    session.flush()
    people = [w.people[n].id for n in "abcdefk"]
    refresh_outcomes(session, people, 5, "test", "测试")
    refresh_outcomes(session, [w.people[n].id for n in "dgh"], 4, "test", "测试")
    for n, (name, centre) in enumerate((("a", "C1"), ("e", "C1"), ("f", "C1"), ("k", "C2")), 1):
        cand = w.people[name]
        session.add(Certificate(number=f"26440300001{n:05d}", code=f"CODE{n}", candidate_id=cand.id,
                                centre_id=w.centres[centre].id, level=5, name=cand.name, id_number=cand.id_number,
                                issued_on=dt.date(2026, 4, 20), issuer="测试省人社厅", created_by="test"))
    for username, roles, org in (("prov", ["province"], None), ("c1staff", ["centre_staff"], "C1"),
                                 ("c2staff", ["centre_staff"], "C2"), ("unit1", ["pilot_unit"], "U1"),
                                 ("police1", ["police"], None)):
        org_id = (w.centres.get(org) or w.units.get(org)).id if org else None
        session.add(User(username=username, display_name=username, roles=roles, organisation_id=org_id,
                         password_hash=hash_password(PASSWORD, "low")))
    session.commit()
    return w
