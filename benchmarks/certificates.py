"""Time issuing 5,000 certificates: their numbers (the `certificates.issue` job's work: passed, released level
outcomes read, serials taken from the locked counter, rows and audit written in chunks) and one batch PDF of all
of them (A4, one certificate a page, QR code drawn, the `certificates.pdf` job's work).

    python -m benchmarks.certificates [--certificates 5000] [--database-url postgresql://127.0.0.1/test]

Builds a fresh database (SQLite in a temporary folder unless --database-url names another, whose tables are
dropped and made again): seed_exam's bank, centre and level-5 sitting (not timed), the province, city and centre
codes, then 5,000 candidates with released, passing theory and skill results in that sitting and their stored
outcomes (not timed). Prints the two figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from sqlalchemy import select

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server import create_app
    from exam_server.certificates import queries
    from exam_server.certificates.numbering import set_code
    from exam_server.certificates.operations import issue_for_sitting
    from exam_server.certificates.pdf import certificates_pdf
    from exam_server.demo import seed_exam
    from exam_server.extensions import db
    from exam_server.organisations.models import Centre
    from exam_server.results.models import RELEASED, Result
    from exam_server.results.outcomes import refresh_outcomes
    from exam_server.sessions.models import Candidate
    from item_bank.data import DEMO_BANK_CSV
    from item_bank.db import Base as ModelBase
    from item_bank.db import utcnow

    folder = Path(tempfile.mkdtemp(prefix="bench-certificates-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "JOBS_BACKEND": "immediate", "LOG_LEVEL": "WARNING",
                      "PASSWORD_HASH_PROFILE": "low", "RUN_BACKGROUND_TASKS": False,
                      "JOBS_DIR": str(folder / "jobs"), "JOBS_UPLOAD_DIR": str(folder / "uploads"),
                      "JOBS_QUEUE_DB": str(folder / "queue.db")})
    with app.app_context():
        session = db.session
        ModelBase.metadata.drop_all(db.engine)
        ModelBase.metadata.create_all(db.engine)
        seeded = seed_exam(session, bank_path=DEMO_BANK_CSV, n_candidates=3, hash_profile="low")
        sitting_id = seeded.exam_session_id
        centre = session.scalar(select(Centre))
        city = centre.parent
        set_code(session, city.parent, "44", issuer="某省人力资源和社会保障厅")
        set_code(session, city, "03")
        set_code(session, centre, "017", institution_type=0)
        session.commit()

        n = args.certificates
        now = utcnow()
        people = [Candidate(id_number=f"44030119900101{i:04d}"[-18:], name=f"考生{i:05d}", guard_cert_no=f"G{i}",
                            guard_cert_date=now.date()) for i in range(n)]
        session.add_all(people)
        session.flush()
        for p in people:
            for part, score in (("theory", 81.0), ("skill", 73.0)):
                session.add(Result(candidate_id=p.id, session_id=sitting_id, level=5, part=part, score=score,
                                   points=score, max_points=100.0, passed=True, status=RELEASED, released_at=now,
                                   reason="benchmark"))
        session.flush()
        refresh_outcomes(session, [p.id for p in people], 5, "cli:bench", "benchmark")
        session.commit()

        started = time.perf_counter()
        made = issue_for_sitting(session, sitting_id, "cli:bench")
        numbers_s = time.perf_counter() - started
        assert len(made) == n, len(made)

        started = time.perf_counter()
        certs = queries.certificates(session, sitting_id=sitting_id)
        photos = queries.photos_of(session, certs)
        data = certificates_pdf(certs, "https://verify.example.cn/verify/", "a4", photos)
        pdf_s = time.perf_counter() - started
        (folder / "certificates.pdf").write_bytes(data)

        print(f"database: {db.engine.dialect.name}")
        print(f"numbers: {n} certificates issued in {numbers_s:.2f} s ({n / numbers_s:.0f}/s)")
        print(f"batch PDF: {len(certs)} pages, {len(data) / 1e6:.1f} MB in {pdf_s:.2f} s ({len(certs) / pdf_s:.0f} pages/s)")
        print(f"total: {numbers_s + pdf_s:.2f} s")
        db.dispose()


if __name__ == "__main__":
    main()
