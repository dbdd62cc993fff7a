"""Time scheduling 5,000 approved applicants into a sitting: the `sessions.schedule` job staff start from
/centre/sittings/<id> (approved applications read, the theory exemption decided again for the sitting's date,
candidates, tickets with sealed initial passwords and seats with parallel forms by seat, the applications marked
ticketed, the attempts prepared with their item and option orders).

    python -m benchmarks.scheduling [--applicants 5000] [--database-url postgresql://127.0.0.1/test]

Builds a fresh database (SQLite in a temporary folder unless --database-url names another, whose tables are
dropped and made again): the demo's bank, two locked parallel 10-item forms and its centre and unit (seed_exam,
not timed), level 5 opened, the unit's 5,000 applications imported (not timed: benchmarks/applications.py times
it) and passed through 复审 in bulk, a site with enough 30-seat rooms and a theory sitting tomorrow. Then times
the job end to end (JOBS_BACKEND immediate: in this process) and prints the figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import tempfile
import time
from pathlib import Path

from benchmarks.applications import build_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from sqlalchemy import func, select, update

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server import create_app
    from exam_server.applications import operations as app_ops
    from exam_server.applications.intake import COLUMNS, local_today
    from exam_server.applications.models import CENTRE_APPROVED, TICKETED, Application
    from exam_server.delivery.models import Attempt
    from exam_server.demo import DEMO_SITE, DEMO_UNIT, seed_exam
    from exam_server.extensions import db
    from exam_server.jobs import submit_job
    from exam_server.organisations.models import PilotUnit
    from exam_server.sessions import jobs as sessions_jobs
    from exam_server.sessions import operations as ops
    from exam_server.sessions.models import SessionExemption, Site, Ticket
    from exam_server.sessions.scheduling import create_sitting
    from item_bank.db import Base as ModelBase
    from item_bank.db import utcnow
    from item_bank.models import Form

    folder = Path(tempfile.mkdtemp(prefix="bench-scheduling-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "JOBS_BACKEND": "immediate", "LOG_LEVEL": "WARNING",
                      "PASSWORD_HASH_PROFILE": "low", "RUN_BACKGROUND_TASKS": False,
                      "JOBS_DIR": str(folder / "jobs"), "JOBS_UPLOAD_DIR": str(folder / "uploads"),
                      "JOBS_QUEUE_DB": str(folder / "queue.db")})
    with app.app_context():
        engine = db.engine
        ModelBase.metadata.drop_all(engine)
        ModelBase.metadata.create_all(engine)
        s = db.session
        small = [{"type": "judge", "count": 3, "points": 1}, {"type": "single", "count": 5, "points": 1},
                 {"type": "multiple", "count": 2, "points": 1, "scoring_rule": "all_or_nothing"}]
        seeded = seed_exam(s, sections=small, n_candidates=1, n_forms=2, hash_profile="low", staff_password="x")
        forms = [f for f in (s.get(Form, i) for i in seeded.form_ids) if f is not None]
        unit = s.scalar(select(PilotUnit).where(PilotUnit.code == DEMO_UNIT[0]))
        assert unit is not None
        today = local_today()
        for part in ("theory", "skill"):
            app_ops.open_window(s, level=5, part=part, opens_on=today, closes_on=today,
                                exam_on=today + dt.timedelta(days=1), actor="cli:bench")
        rows = [(i + 2, dict(zip(COLUMNS, row, strict=True)))
                for i, row in enumerate(build_rows(args.applicants, today, unit.name))]
        started = time.perf_counter()
        imported = app_ops.import_rows(s, unit, rows, actor="cli:bench", file="bench")
        print(f"setup: {imported.created} applications imported in {time.perf_counter() - started:.1f} s "
              f"({imported.exempt} theory-exempt), passed through 复审 in bulk")
        s.execute(update(Application).values(status=CENTRE_APPROVED))
        s.commit()
        site = s.scalar(select(Site).where(Site.code == DEMO_SITE[0]))
        assert site is not None
        rooms = []
        for n in range(1, math.ceil(args.applicants / 30) + 1):
            rooms.append(ops.create_room(s, site, code=f"B{n:03d}", name=f"第{n}考场", seats=30, actor="cli:bench"))
        start = utcnow() + dt.timedelta(days=1)
        sitting = create_sitting(s, code="BENCH", name="基准场次", forms=forms, rooms=rooms, starts_at=start,
                                 ends_at=start + dt.timedelta(minutes=90), actor="cli:bench")

        started = time.perf_counter()
        job = submit_job(sessions_jobs.SCHEDULE, {"session_id": sitting.id, "unit_ids": [unit.id]}, "cli:bench")
        elapsed = time.perf_counter() - started
        assert job.status == "done", (job.status, job.result)
        tickets = s.scalar(select(func.count()).select_from(Ticket).where(Ticket.session_id == sitting.id))
        attempts = s.scalar(select(func.count()).select_from(Attempt).where(Attempt.session_id == sitting.id))
        exempt = s.scalar(select(func.count()).select_from(SessionExemption)
                          .where(SessionExemption.session_id == sitting.id))
        ticketed = s.scalar(select(func.count()).select_from(Application).where(Application.status == TICKETED))
        backend = url.split(":", 1)[0]
        print(f"backend {backend}; {args.applicants} approved applicants, {len(rooms)} rooms of 30 seats, 2 forms")
        print(f"scheduling job: {elapsed:.2f} s — {tickets} tickets seated with attempts prepared ({attempts}), "
              f"{exempt} theory-exempt listed, {ticketed} applications ticketed "
              f"({args.applicants / elapsed:.0f} applicants/s)")
        s.close()
        if args.database_url:
            ModelBase.metadata.drop_all(engine)


if __name__ == "__main__":
    main()
