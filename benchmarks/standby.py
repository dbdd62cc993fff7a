"""A site's warm standby at a real sitting's size: what the replication feed costs the primary, weighs on the LAN and
takes the standby to apply, second by second.

    python benchmarks/standby.py [--candidates 500] [--saves-per-s 100] [--seconds 30]

Seeds a site's database (the demo bank, the full level-5 theory paper, `--candidates` checked in and started), takes
the standby's first whole copy (SQLite's backup API, as GET /site-node/replication/snapshot does), then plays
`--seconds` seconds of exam day: each second `--saves-per-s` answers saved through the real save path
(delivery/steps.py), then one pull: the primary builds the feed (its cost: time the server's one event loop is busy),
gzip-compressed as sent, and the standby applies it (chain checked, events, states and answers written). Prints the
snapshot's size and time, and per pull the feed's bytes, build and apply times (mean, p95, max). One process, SQLite
files, this machine; report the load average with the figures (the dev machine has 2 shared cores).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sandbox import sqlite_app  # noqa: E402  (the checkout goes on the path first)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--saves-per-s", type=int, default=100, help="answers saved per second, the whole site")
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()

    from sqlalchemy import select

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server.delivery import steps
    from exam_server.delivery.models import Attempt
    from exam_server.demo import seed_exam
    from exam_server.extensions import db
    from exam_server.sitenode import replication
    from item_bank.db import make_engine, make_session_factory

    app, folder, _ = sqlite_app("standby", database="primary.db")
    with app.app_context():
        session = db.session
        began = time.perf_counter()
        seed_exam(session, n_candidates=args.candidates, hash_profile="low")
        attempts = [(a.id, a.candidate_id, list(a.item_order)) for a in session.scalars(select(Attempt))]
        for attempt_id, candidate_id, _ in attempts:
            steps.join(session, attempt_id, f"ws-{attempt_id}", "candidate", candidate_id)
            steps.start(session, attempt_id, "candidate", f"ws-{attempt_id}", candidate_id)
        print(f"seeded and started {len(attempts)} attempts in {time.perf_counter() - began:.1f} s")

        began = time.perf_counter()
        replication.snapshot(folder / "primary.db", folder / "standby.db")
        snapshot_s = time.perf_counter() - began
        raw_size = (folder / "standby.db").stat().st_size
        sent = len(gzip.compress((folder / "standby.db").read_bytes(), compresslevel=1))
        print(f"snapshot (whole copy): {raw_size / 1e6:.1f} MB, {sent / 1e6:.1f} MB gzip-compressed as sent, "
              f"made in {snapshot_s * 1000:.0f} ms")
        standby_engine = make_engine(f"sqlite:///{folder / 'standby.db'}")
        standby = make_session_factory(standby_engine)()
        generation = replication.generation(standby)
        digests = replication.table_digests(standby)
        standby.rollback()

        seqs = {attempt_id: 0 for attempt_id, _, _ in attempts}
        build_ms, apply_ms, sizes, events = [], [], [], []
        turn = 0
        for _second in range(args.seconds):
            for _ in range(args.saves_per_s):
                attempt_id, candidate_id, items = attempts[turn % len(attempts)]
                turn += 1
                seqs[attempt_id] += 1
                seq = seqs[attempt_id]
                ack = steps.save_answer(session, candidate_id, attempt_id, items[seq % len(items)], "AB"[seq % 2], seq,
                                        f"ws-{attempt_id}:{attempt_id}:{seq}", f"ws-{attempt_id}")
                assert ack["ok"], ack
            after, audit = replication.cursors(standby)
            standby.rollback()
            began = time.perf_counter()
            feed = replication.build_feed(session, after_event=after, after_audit=audit, generation_seen=generation,
                                          digests=digests)
            data = gzip.compress(json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode(),
                                 compresslevel=1)
            build_ms.append((time.perf_counter() - began) * 1000)
            sizes.append(len(data))
            began = time.perf_counter()
            done = replication.apply_feed(standby, json.loads(gzip.decompress(data)))
            apply_ms.append((time.perf_counter() - began) * 1000)
            digests = {name: t["digest"] for name, t in feed["tables"].items()}
            events.append(done.events)
        standby.close()
        standby_engine.dispose()

    def line(name: str, values: list[float], unit: str) -> str:
        return (f"{name}: mean {statistics.mean(values):.1f} {unit}, p95 {_p95(values):.1f} {unit}, "
                f"max {max(values):.1f} {unit}")

    print(f"{args.seconds} pulls, one a second, {args.saves_per_s} saves/s over {len(attempts)} candidates "
          f"({statistics.mean(events):.0f} events a pull):")
    print(line("feed sent (gzip)", [s / 1000 for s in sizes], "KB"))
    print(line("primary builds the feed", build_ms, "ms"))
    print(line("standby applies it", apply_ms, "ms"))
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; files in {folder}")


if __name__ == "__main__":
    main()
