"""What a saved answer costs PostgreSQL itself, its statements run prepared (`item_bank.db.SERVER_PREPARED`) or
parsed and planned on every save.

    python benchmarks/pg_save.py [--candidates 50] [--saves 4000]

A fresh database holds a seeded sitting (the load benchmark's); every attempt is joined and started. Then the saves
run one after another through `delivery.steps.save_answer` on the app's session, one database connection, in
alternating blocks with the option on and off (so a drift of the machine falls on both). For each it prints the save's
time (its two round trips, PostgreSQL's work and this process's) and the CPU time of PostgreSQL's backend per save,
read from /proc: what the servers' shared cores no longer spend parsing and planning a whole room's saves.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load import DEFAULT_BANK, POSTGRES_ADMIN_URL, SECRET, fresh_database, seed  # noqa: E402

BLOCK = 250  # saves per block; the modes alternate block by block


def backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of PostgreSQL's backend `pid` (this machine's server)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--saves", type=int, default=4000, help="saves in all, half in each mode")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin URL of a local PostgreSQL")
    parser.add_argument("--bank", type=Path, default=DEFAULT_BANK)
    args = parser.parse_args()

    from sqlalchemy import select, text

    from exam_server import create_app
    from exam_server.delivery import steps, store
    from exam_server.delivery.models import Attempt
    from exam_server.delivery.paper import form_items
    from exam_server.extensions import db
    from item_bank.types import item_type

    url = fresh_database("postgresql", Path(tempfile.mkdtemp(prefix="exam-pg-save-")), args.postgres_url)
    seed(url, args.candidates, args.bank, duration_s=3 * 3600)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "SOCKETIO_ASYNC_MODE": "threading",
                      "RUN_BACKGROUND_TASKS": False, "LOG_LEVEL": "WARNING", "DB_POOL_SIZE": 1})
    modes = {"prepared": (dict(store._STEP_STATEMENT), dict(store._ENDS_TRANSACTION))}
    modes["parsed each time"] = tuple({k: v for k, v in options.items() if k != "server_prepared"}
                                      for options in modes["prepared"])
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, float] = dict.fromkeys(modes, 0.0)
    with app.app_context():
        session = db.session
        attempts = session.execute(select(Attempt.id, Attempt.candidate_id, Attempt.form_id)).all()
        answers: list[tuple[int, int, int, list[str]]] = []  # attempt, candidate, item, the values it takes
        for attempt in attempts:
            workstation = f"ws-{attempt.id}"
            steps.join(session, attempt.id, workstation, "candidate", attempt.candidate_id)
            steps.start(session, attempt.id, "candidate", workstation, attempt.candidate_id)
            for item_id, frozen in form_items(session, attempt.form_id).items():
                kind = item_type(frozen.content.type)
                values = [v for v in "ABCD" if not kind.check_value(frozen.content, v)]
                if len(values) >= 2:
                    answers.append((attempt.id, attempt.candidate_id, item_id, values))
        session.commit()
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        session.commit()
        seqs: dict[int, int] = {}
        for n in range(args.saves):
            mode = list(modes)[(n // BLOCK) % len(modes)]
            store._STEP_STATEMENT, store._ENDS_TRANSACTION = modes[mode]  # type: ignore[misc]
            attempt_id, candidate_id, item_id, values = answers[n % len(answers)]
            seq = seqs[attempt_id] = seqs.get(attempt_id, 0) + 1
            before = backend_cpu_s(pid) if n % BLOCK == 0 else None
            t = time.perf_counter()
            ack = steps.save_answer(session, candidate_id, attempt_id, item_id, values[n % len(values)], seq,
                                    f"ws-{attempt_id}:{seq}", f"ws-{attempt_id}")
            times[mode].append(time.perf_counter() - t)
            if not ack.get("ok"):
                raise SystemExit(f"save refused: {ack}")
            if before is not None:
                block_start = before
            if n % BLOCK == BLOCK - 1 or n == args.saves - 1:
                cpu[mode] += backend_cpu_s(pid) - block_start
        db.dispose()

    print(f"PostgreSQL save cost: {args.saves} saves, {len(attempts)} attempts, one connection "
          f"(backend pid {pid}), blocks of {BLOCK} alternating")
    print(f"{'statements':<18} {'saves':>6} {'p50 ms':>7} {'mean ms':>8} {'p90 ms':>7} {'backend CPU ms/save':>20}")
    for mode, spent in times.items():
        spent.sort()
        print(f"{mode:<18} {len(spent):>6} {statistics.median(spent) * 1e3:>7.2f} "
              f"{statistics.fmean(spent) * 1e3:>8.2f} {spent[int(len(spent) * 0.9)] * 1e3:>7.2f} "
              f"{cpu[mode] / len(spent) * 1e3:>20.3f}")


if __name__ == "__main__":
    main()
