"""Time importing a skill sitting's marks from Excel: N candidates × 3 stations × 2 examiners, read through
archives.open_workbook, every row checked, then stored with the station scores, the skill results and the level
outcomes they make (the `skills.import_scores` job's work), and the sitting's release after it.

    python -m benchmarks.skills [--candidates 1000] [--database-url postgresql://127.0.0.1/test]

Builds a fresh database (SQLite in a temporary folder unless --database-url names another, whose tables are dropped
and made again): the shipped skill trees and stations, a level-5 skill sitting with N ticketed candidates, two
examiners and a chief (not timed), and the workbook (not timed). Prints the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from openpyxl import Workbook
    from sqlalchemy import select

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server import create_app
    from exam_server.core.models import User
    from exam_server.core.security import hash_password
    from exam_server.extensions import db
    from exam_server.results.release import release_results
    from exam_server.sessions.models import Candidate, Ticket
    from exam_server.skills.imports import import_scores, template_headers
    from exam_server.skills.operations import (
        add_candidates,
        create_skill_sitting,
        set_up_sitting,
        sitting_stations,
    )
    from exam_server.skills.sheets import ensure_stations
    from item_bank.db import Base as ModelBase
    from item_bank.db import utcnow

    folder = Path(tempfile.mkdtemp(prefix="bench-skills-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "JOBS_BACKEND": "immediate", "LOG_LEVEL": "WARNING",
                      "PASSWORD_HASH_PROFILE": "low", "RUN_BACKGROUND_TASKS": False,
                      "JOBS_DIR": str(folder / "jobs"), "JOBS_UPLOAD_DIR": str(folder / "uploads"),
                      "JOBS_QUEUE_DB": str(folder / "queue.db")})
    with app.app_context():
        session = db.session
        ModelBase.metadata.drop_all(db.engine)
        ModelBase.metadata.create_all(db.engine)
        users = {name: User(username=name, display_name=name, roles=roles, password_hash=hash_password("x", "low"))
                 for name, roles in (("kp1", ["grader"]), ("kp2", ["grader"]), ("zk", ["chief_grader"]))}
        session.add_all(users.values())
        ensure_stations(session, "bench")
        sitting = create_skill_sitting(session, code="K5-BENCH", name="基准", level=5,
                                       starts_at=utcnow() - dt.timedelta(days=1), duration_s=4 * 3600, centre_id=None,
                                       actor="bench")
        people = [Candidate(id_number=f"44030119900101{i:04d}", name=f"考生{i:04d}", guard_cert_no=f"G{i}",
                            guard_cert_date=utcnow().date()) for i in range(args.candidates)]
        session.add_all(people)
        session.flush()
        add_candidates(session, sitting, [p.id for p in people], "bench")
        session.commit()
        codes = ["S5-01", "S5-02", "S5-03"]
        set_up_sitting(session, sitting, [(c, [users["kp1"], users["kp2"]]) for c in codes], users["zk"], "bench")
        stations = sitting_stations(session, sitting.id)
        tickets = list(session.scalars(select(Ticket.number).where(Ticket.session_id == sitting.id)
                                       .order_by(Ticket.number)))
        rng = random.Random(1)
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(template_headers(stations))
        for number in tickets:
            for station in stations:
                marks = [float(rng.randint(0, int(c["points"]))) for c in station.criteria]
                for examiner in ("kp1", "kp2"):
                    sheet.append([number, station.code, examiner, *marks])
        path = folder / "marks.xlsx"
        book.save(path)
        rows = len(tickets) * len(stations) * 2
        session.commit()

        started = time.perf_counter()
        report = import_scores(session, sitting, path, path.name, "bench")
        imported = time.perf_counter() - started
        started = time.perf_counter()
        released = release_results(session, sitting.id, "bench").released
        release_s = time.perf_counter() - started
    backend = url.split(":", 1)[0]
    print(f"{backend}: imported {report.marks} marks ({rows} rows, {args.candidates} candidates) with their station "
          f"scores, skill results and level outcomes in {imported:.1f} s ({rows / imported:.0f} rows/s); "
          f"released {released} results in {release_s:.1f} s")


if __name__ == "__main__":
    main()
