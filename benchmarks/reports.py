"""Time the reports on a province-sized period: the figures (every breakdown), the workbook with the holders'
list, and a centre's signed file, for N candidates who each applied, were ticketed for a theory and a skill
sitting (one in ten absent from each), were scored, and have a stored level outcome; a third hold a certificate.

    python -m benchmarks.reports [--candidates 10000] [--database-url postgresql://127.0.0.1/test]

Builds a fresh database (SQLite in a temporary folder unless --database-url names another, whose tables are
dropped and made again); the data are written in bulk (not timed). Prints each figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from sqlalchemy import insert, select

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server import create_app
    from exam_server.applications.models import TICKETED, Application, ApplicationWindow
    from exam_server.certificates.models import Certificate
    from exam_server.delivery.models import SCHEDULED, SCORED, Attempt
    from exam_server.extensions import db
    from exam_server.organisations.models import Centre, City, PilotUnit, Province
    from exam_server.reports import figures as F
    from exam_server.reports import operations
    from exam_server.reports.workbook import workbook_bytes
    from exam_server.results.models import RELEASED, Result
    from exam_server.results.outcomes import refresh_outcomes
    from exam_server.sessions.models import Candidate, ExamSession, Room, Seat, SessionRoom, Site, Ticket
    from item_bank.db import Base, make_engine
    from item_bank.models import Blueprint, Form

    n = args.candidates
    folder = Path(tempfile.mkdtemp(prefix="reports-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "bench", "RUN_BACKGROUND_TASKS": False,
                      "LOG_LEVEL": "WARNING", "REPORT_KEYS_DIR": str(folder / "keys")})
    with app.app_context():
        s = db.session
        province = Province(code="P", name="省")
        s.add(province)
        s.flush()
        cities = [City(code=f"CY{i}", name=f"{i}市", parent_id=province.id) for i in range(4)]
        s.add_all(cities)
        s.flush()
        centre = Centre(code="C1", name="鉴定中心", parent_id=cities[0].id)
        s.add(centre)
        s.flush()
        units = [PilotUnit(code=f"U{i}", name=f"试点单位{i}", parent_id=cities[i % 4].id, centre_id=centre.id,
                           levels=[5]) for i in range(20)]
        s.add_all(units)
        site = Site(code="S1", name="考点", centre_id=centre.id)
        s.add(site)
        s.flush()
        room = Room(site_id=site.id, code="R1", name="考场")
        s.add(room)
        s.flush()
        blueprint = Blueprint(name="bench", level=5, part="theory", duration_s=3600)
        window = ApplicationWindow(level=5, part="theory", opens_on=dt.date(2026, 1, 1),
                                   closes_on=dt.date(2026, 2, 1), created_by="bench")
        s.add_all([blueprint, window])
        s.flush()
        form = Form(code="F1", blueprint_id=blueprint.id)
        s.add(form)
        s.flush()
        day = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.UTC)
        sittings = [ExamSession(code=code, name=code, level=5, part=part, blueprint_id=blueprint.id,
                                starts_at=day + dt.timedelta(days=i), duration_s=5400, centre_id=centre.id)
                    for i, (code, part) in enumerate((("T", "theory"), ("K", "skill")))]
        s.add_all(sittings)
        s.flush()
        s.add_all([SessionRoom(session_id=x.id, room_id=room.id) for x in sittings])
        numbers = [f"110101199001{i:06d}" for i in range(n)]
        s.execute(insert(Seat), [{"room_id": room.id, "number": i + 1} for i in range(n)])
        seats = list(s.scalars(select(Seat.id).order_by(Seat.number)))
        s.execute(insert(Candidate), [{"id_number": num, "name": f"考生{i}", "guard_cert_no": f"G{i}",
                                       "guard_cert_date": dt.date(2020, 1, 1)} for i, num in enumerate(numbers)])
        ids = dict(s.execute(select(Candidate.id_number, Candidate.id)).all())
        s.execute(insert(Application), [
            {"name": f"考生{i}", "id_number": num, "sex": "男", "birth_date": dt.date(1990, 1, 1),
             "guard_cert_no": f"G{i}", "guard_cert_date": dt.date(2020, 1, 1), "level": 5, "parts": ["theory", "skill"],
             "window_id": window.id, "unit_id": units[i % 20].id, "training_unit_id": units[i % 20].id,
             "channel": "import", "status": TICKETED, "created_by": "bench", "decisions": [],
             "created_at": day - dt.timedelta(days=20)} for i, num in enumerate(numbers)])
        for x in sittings:
            s.execute(insert(Ticket), [{"number": f"{x.code}{i:06d}", "session_id": x.id, "candidate_id": ids[num],
                                        "seat_id": seats[i], "password_hash": "x", "form_id": form.id}
                                       for i, num in enumerate(numbers)])
            tickets = dict(s.execute(select(Ticket.candidate_id, Ticket.id).where(Ticket.session_id == x.id)).all())
            s.execute(insert(Attempt), [{"ticket_id": tickets[ids[num]], "session_id": x.id, "candidate_id": ids[num],
                                         "form_id": form.id, "status": SCHEDULED if i % 10 == 0 else SCORED,
                                         "seed": i, "remaining_s": 0.0, "item_order": [], "option_orders": {}}
                                        for i, num in enumerate(numbers)])
            s.execute(insert(Result), [{"candidate_id": ids[num], "session_id": x.id, "level": 5, "part": x.part,
                                        "score": float((i * 37) % 101), "passed": (i * 37) % 101 >= 60,
                                        "status": RELEASED, "detail": {}, "basis": {}}
                                       for i, num in enumerate(numbers) if i % 10])
        refresh_outcomes(s, ids.values(), 5, "bench", "bench")
        s.execute(insert(Certificate), [
            {"number": f"2644030001750{i:03d}"[:11] + f"{i:05d}", "code": f"C{i:07d}", "candidate_id": ids[num],
             "centre_id": centre.id, "level": 5, "name": f"考生{i}", "id_number": num,
             "issued_on": dt.date(2026, 4, 1), "issuer": "人社厅", "created_by": "bench"}
            for i, num in enumerate(numbers) if i % 3 == 0])
        s.commit()

        period = F.Period.parse("2026-01-01", "2026-12-31")
        scope = F.centre_scope(s, centre)
        started = time.perf_counter()
        report = F.compute(s, scope, period)
        figures_s = time.perf_counter() - started
        started = time.perf_counter()
        holders = F.holders(s, scope, period)
        data = workbook_bytes(report, holders=holders)
        workbook_s = time.perf_counter() - started
        started = time.perf_counter()
        signed = operations.centre_file(s, centre, period, folder / "keys")
        signed_s = time.perf_counter() - started
        level5 = report["attendance"]["level"][0]
        print(f"{url.split(':')[0]}: {n} candidates, 2 sittings ({level5['scheduled']} tickets, {level5['present']} "
              f"present, {level5['absent']} absent), {len(holders)} holders")
        print(f"figures (every breakdown): {figures_s:.2f} s")
        print(f"workbook with holders' list: {workbook_s:.2f} s, {len(data) / 1024:.0f} KiB")
        print(f"centre's signed file (figures again + Ed25519): {signed_s:.2f} s, {len(signed) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
