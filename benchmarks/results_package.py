"""The results package from a test site at a real sitting's size: how big it is and how long each step takes.

    python benchmarks/results_package.py [--candidates 500] [--forms 2] [--changes 1]

Seeds a centre (the demo bank, the full level-5 theory paper, `--candidates` seated at the demo site), sends the
sitting to a site's own SQLite database by the sitting package (import, unseal), sits it there (every candidate
checked in, started, answering every item, `--changes` extra saves per item as candidates change their minds, and
submitting, all through analysis/simulate.py, whose events are hash-chained like the real steps), then builds the
site's signed results package and imports it at the centre: the first import (every signature, chain and answer
checked, every event written, one transaction) and the scoring after it, then the same package again (nothing new).
One process, SQLite files, this machine. Prints the package's size and each step's time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sandbox import new_database, sqlite_app  # noqa: E402  (the checkout goes on the path first)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--forms", type=int, default=2)
    parser.add_argument("--changes", type=int, default=1, help="extra saves per item (a changed answer)")
    args = parser.parse_args()

    from sqlalchemy import func, insert, select, update

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server.analysis.simulate import simulate_sitting
    from exam_server.core import signing
    from exam_server.delivery.chain import chain_rows, item_refs
    from exam_server.delivery.models import Attempt, AttemptEvent
    from exam_server.demo import seed_exam
    from exam_server.extensions import db
    from exam_server.sessions.models import ExamSession, Site
    from exam_server.sitenode import keys, package, results_package
    from item_bank.db import make_engine, make_session_factory

    app, folder, _ = sqlite_app("results-package", database="centre.db")
    app.instance_path = str(folder / "centre-instance")
    site_instance = folder / "site-instance"
    with app.app_context():
        began = time.perf_counter()
        seeded = seed_exam(db.session, n_candidates=args.candidates, n_forms=args.forms, hash_profile="low",
                           keep_sealed=True, check_in_all=False)
        print(f"seeded {args.candidates} candidates, {args.forms} forms in {time.perf_counter() - began:.1f} s")
        centre_public = signing.generate_node_key(app.instance_path)
        site_public = signing.generate_node_key(site_instance)
        keys.register_key(db.session, "site", "GZ01", signing.public_key_text(site_public), "bench")
        exam_session = db.session.get(ExamSession, seeded.exam_session_id)
        site_row = db.session.scalar(select(Site).where(Site.code == "GZ01"))
        built = package.build_package(db.session, exam_session, site_row, signing.load_private_key(app.instance_path),
                                      "bench", secret_key="results-package-benchmark", hash_profile="low")
        code = package.release_code_for(db.session, exam_session, site_row.code)
        sitting_code = exam_session.code
    sitting_zip = folder / "sitting.zip"
    sitting_zip.write_bytes(built.data)

    site_engine = make_engine(new_database(folder / "site.db"))
    site = make_session_factory(site_engine)()
    keys.register_key(site, "centre", "centre", signing.public_key_text(centre_public), "bench")
    package.import_package(site, sitting_zip, "bench", site_code="GZ01")
    package.unseal_paper(site, sitting_code, code, "bench")
    site_sitting = site.scalar(select(ExamSession).where(ExamSession.code == sitting_code))
    began = time.perf_counter()
    simulate_sitting(site, site_sitting, score=False)
    if args.changes:
        # Changed answers: extra applied saves before each final one would reorder the log; appended after the
        # submit they keep the chain valid and weigh the same in the package (a save event each).
        events = site.execute(select(AttemptEvent.__table__).where(AttemptEvent.kind == "save")
                              .order_by(AttemptEvent.id)).mappings().all()
        heads = dict(site.execute(select(Attempt.id, Attempt.last_event_hash)).all())
        extra = [{k: e[k] for k in ("attempt_id", "kind", "actor", "at", "item_version_id", "seq", "key")}
                 | {"payload": {**e["payload"], "applied": False}, "key": f"{e['key']}-{n}" if e["key"] else None}
                 for n in range(args.changes) for e in events]
        refs = item_refs(site, {e["item_version_id"] for e in extra})
        heads = chain_rows(extra, refs, heads)
        site.execute(insert(AttemptEvent.__table__), extra)
        for attempt_id, head in heads.items():
            site.execute(update(Attempt).where(Attempt.id == attempt_id).values(last_event_hash=head))
        site.commit()
    n_events = site.scalar(select(func.count()).select_from(AttemptEvent))
    print(f"sat at the site: {n_events} events in {time.perf_counter() - began:.1f} s")

    site_code_row = site.scalar(select(Site).where(Site.code == "GZ01"))
    began = time.perf_counter()
    results = results_package.build_results(site, site_sitting, site_code_row, signing.load_private_key(site_instance),
                                            "bench")
    build_s = time.perf_counter() - began
    path = folder / "results.zip"
    path.write_bytes(results.data)
    print(f"results package: {len(results.data) / 1024 / 1024:.2f} MB, {results.summary['attempts']} attempts, "
          f"{results.summary['events']} events; build {build_s:.2f} s")
    site.close()
    site_engine.dispose()

    with app.app_context():
        began = time.perf_counter()
        report = results_package.import_results(db.session, path, "bench", score=False)
        import_s = time.perf_counter() - began
        print(f"import (signature, {report.attempts} chains and answers checked, {report.new_events} events "
              f"written, one transaction): {import_s:.2f} s")
        began = time.perf_counter()
        from exam_server.results.scoring import score_session

        scoring = score_session(db.session, db.session.get(ExamSession, seeded.exam_session_id), "bench")
        print(f"scoring after it: {time.perf_counter() - began:.2f} s ({scoring.written} results)")
        began = time.perf_counter()
        again = results_package.import_results(db.session, path, "bench")
        print(f"same package again: {time.perf_counter() - began:.2f} s (new events {again.new_events})")


if __name__ == "__main__":
    main()
