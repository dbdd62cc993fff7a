"""Benchmark: scoring in memory, then a stored session end to end.

Run from the repository root:
    python benchmarks/scoring.py                              # both halves, SQLite and PostgreSQL
    python benchmarks/scoring.py --backends sqlite            # the stored half on SQLite only
    python benchmarks/scoring.py --skip-memory --attempts 10000

1. In memory (benchmarks/scoring_memory.py): 100,000 attempts × 100 mixed items with partial credit,
   `scoring.rules.score_matrix` against a plain Python loop over `score_response` in the same run.
   Target: at least 50 million responses per second.
2. Stored session: a database with one locked 100-item form (60 single, 20 true/false, 20 multiple
   response on partial credit) and 10,000 submitted attempts with 1,000,000 stored responses; then
   `exam_server.results.scoring.score_session` reads the responses, scores them and writes
   10,000 results with their audit rows, timed end to end. Target: under 10 s on SQLite and PostgreSQL.
   The database is built with bulk inserts (not timed); PostgreSQL gets a fresh database that is
   dropped afterwards (TEST_POSTGRES_URL or postgresql+psycopg2://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import exam_server.models  # noqa: E402,F401  (fills Base.metadata)
from exam_server.delivery.models import Attempt, Response  # noqa: E402
from exam_server.results.models import Result  # noqa: E402
from exam_server.sessions.models import Candidate, ExamSession, SessionForm, Ticket  # noqa: E402
from item_bank.db import Base, make_engine, make_session_factory, utcnow  # noqa: E402
from item_bank.models import Blueprint, Form, FormItem, Item, ItemVersion  # noqa: E402
from scoring.rules import mask_to_letters  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
CHUNK = 50_000


def build_paper(session: Session, rng: np.random.Generator, n_items: int) -> tuple[int, list[tuple[int, str, str]]]:
    """A locked form of `n_items` items; returns its id and (version id, type, key) per item."""
    n_multiple = n_items // 5
    n_judge = n_items // 5
    kinds = ["single"] * (n_items - n_multiple - n_judge) + ["judge"] * n_judge + ["multiple"] * n_multiple
    blueprint = Blueprint(
        name="基准 五级理论", level=5, part="theory", duration_s=5400, pass_mark=60,
        spec={"sections": [{"type": k, "count": kinds.count(k), "points": 2 if k == "multiple" else 1,
                            "scoring_rule": "partial" if k == "multiple" else "exact"} for k in dict.fromkeys(kinds)]},
    )
    session.add(blueprint)
    session.flush()
    form = Form(code="BENCH-1", blueprint_id=blueprint.id, status="assembled")
    session.add(form)
    session.flush()
    items = []
    for pos, kind in enumerate(kinds, start=1):
        n_opt = 2 if kind == "judge" else 4
        if kind == "multiple":
            key = mask_to_letters(int(rng.integers(1, 16)))
        else:
            key = "ABCD"[int(rng.integers(0, n_opt))]
        options = ["正确", "错误"] if kind == "judge" else [f"选项{c}" for c in "ABCD"]
        item = Item(external_id=f"BENCH-{pos:03d}")
        session.add(item)
        session.flush()
        version = ItemVersion(item_id=item.id, version_no=1, status="approved", type=kind, stem=f"基准题 {pos}（ ）",
                              content={"options": options}, key=key, points=2.0 if kind == "multiple" else 1.0,
                              levels=[5], part="theory")
        session.add(version)
        session.flush()
        session.add(FormItem(form_id=form.id, item_version_id=version.id, position=pos, section=kind,
                             points=version.points, scoring_rule="partial" if kind == "multiple" else "exact"))
        items.append((version.id, kind, key))
    form.status = "locked"
    form.locked_at = utcnow()
    session.commit()
    return form.id, items


def build_session(engine_url: str, n_attempts: int, n_items: int, seed: int = 7) -> int:
    """Fill an empty database with a scored-ready sitting; returns the exam session id."""
    engine = make_engine(engine_url)
    Base.metadata.create_all(engine)
    session = make_session_factory(engine)()
    rng = np.random.default_rng(seed)
    form_id, items = build_paper(session, rng, n_items)
    blueprint_id = session.scalar(select(Form.blueprint_id).where(Form.id == form_id))
    now = utcnow()
    exam_session = ExamSession(code="BENCH-S", name="基准场次", level=5, part="theory", blueprint_id=blueprint_id,
                               starts_at=now - dt.timedelta(hours=2), duration_s=5400, status="closed")
    session.add(exam_session)
    session.flush()
    session.add(SessionForm(session_id=exam_session.id, form_id=form_id))
    session.commit()
    sid = exam_session.id
    # Certificates issued long ago: nobody is exempt, so every attempt is a scored result.
    cert = dt.date(2010, 1, 1)
    session.execute(insert(Candidate), [
        {"id_number": f"44{i:016d}", "name": f"考生{i}", "guard_cert_no": f"B{i}", "guard_cert_date": cert,
         "created_at": now}
        for i in range(n_attempts)
    ])
    cand_ids = session.scalars(select(Candidate.id).order_by(Candidate.id)).all()
    session.execute(insert(Ticket), [
        {"number": f"T{i:08d}", "session_id": sid, "candidate_id": c, "password_hash": "x", "issued_at": now}
        for i, c in enumerate(cand_ids)
    ])
    tickets = session.execute(select(Ticket.id, Ticket.candidate_id).order_by(Ticket.id)).all()
    order = [v for v, _, _ in items]
    session.execute(insert(Attempt), [
        {"ticket_id": t, "session_id": sid, "candidate_id": c, "form_id": form_id, "status": "submitted",
         "seed": 1, "item_order": order, "option_orders": {}, "remaining_s": 0.0, "submitted_at": now,
         "created_at": now}
        for t, c in tickets
    ])
    session.commit()
    attempt_ids = session.scalars(select(Attempt.id).order_by(Attempt.id)).all()
    # Answers: right 60 % of the time, otherwise a random choice; 3 % omitted (no response row).
    values = []
    for _version_id, kind, key in items:
        n_opt = 2 if kind == "judge" else 4
        wrong = [mask_to_letters(m) for m in range(1, 16)] if kind == "multiple" else list("ABCD"[:n_opt])
        values.append((key, wrong))
    right = rng.random((len(attempt_ids), len(items))) < 0.6
    pick = rng.integers(0, 15, size=(len(attempt_ids), len(items)))
    omitted = rng.random((len(attempt_ids), len(items))) < 0.03
    if engine.dialect.name == "postgresql":
        _copy_responses(engine, attempt_ids, items, values, right, pick, omitted, now)
    else:
        rows = []
        for r, attempt_id in enumerate(attempt_ids):
            for c, (version_id, _, _) in enumerate(items):
                if omitted[r, c]:
                    continue
                key, wrong = values[c]
                value = key if right[r, c] else wrong[pick[r, c] % len(wrong)]
                rows.append({"attempt_id": attempt_id, "item_version_id": version_id, "value": value, "seq": c + 1,
                             "saved_at": now, "flagged": False, "flag_seq": 0})
                if len(rows) >= CHUNK:
                    session.execute(insert(Response), rows)
                    rows = []
        if rows:
            session.execute(insert(Response), rows)
        session.commit()
    session.close()
    engine.dispose()
    return sid


def _copy_responses(engine, attempt_ids, items, values, right, pick, omitted, now) -> None:
    """PostgreSQL: stream the responses in with COPY (the setup, not what is measured)."""
    buf = io.StringIO()
    stamp = now.isoformat()
    for r, attempt_id in enumerate(attempt_ids):
        for c, (version_id, _, _) in enumerate(items):
            if omitted[r, c]:
                continue
            key, wrong = values[c]
            value = key if right[r, c] else wrong[pick[r, c] % len(wrong)]
            buf.write(f"{attempt_id}\t{version_id}\t{json.dumps(value)}\t{c + 1}\t{stamp}\tf\t0\n")
    buf.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.copy_expert(
                "COPY response (attempt_id, item_version_id, value, seq, saved_at, flagged, flag_seq) FROM STDIN",
                buf,
            )
        raw.commit()
    finally:
        raw.close()


def time_scoring(url: str, session_id: int) -> tuple[float, int, object]:
    """Score the stored session end to end in a fresh process state; returns seconds, results, report."""
    from exam_server.delivery.paper import FORM_CACHE
    from exam_server.results import plan
    from exam_server.results.scoring import score_session

    FORM_CACHE.clear()
    plan._PLAN_CACHE.clear()
    engine = make_engine(url)
    session = make_session_factory(engine)()
    exam_session = session.get(ExamSession, session_id)
    start = time.perf_counter()
    report = score_session(session, exam_session, "benchmark")
    seconds = time.perf_counter() - start
    n = session.scalar(select(func.count()).select_from(Result).where(Result.session_id == session_id))
    session.close()
    engine.dispose()
    return seconds, n, report


def stored_half(backend: str, n_attempts: int, n_items: int) -> None:
    if backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="bench-scoring-")
        url = f"sqlite:///{tmp}/bench.db"
        cleanup = None
    else:
        name = f"bench_scoring_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = re.sub(r"/[^/]*$", f"/{name}", POSTGRES_ADMIN_URL)

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()

    try:
        started = time.perf_counter()
        sid = build_session(url, n_attempts, n_items)
        built = time.perf_counter() - started
        seconds, n, report = time_scoring(url, sid)
        again, _, report2 = time_scoring(url, sid)
        print(f"{backend:<11} {n_attempts:>9,} attempts × {n_items} items: built in {built:.1f} s; "
              f"score_session {seconds:.2f} s end to end ({report.written:,} results written, "
              f"{n_attempts * n_items / seconds:,.0f} responses/s); rescoring unchanged {again:.2f} s "
              f"({report2.unchanged:,} unchanged)")
        assert n == n_attempts and report2.written == 0
    finally:
        if cleanup is not None:
            cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memory-attempts", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=10_000, help="attempts in the stored session")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    if not args.skip_memory:
        print("== 1. In memory (benchmarks/scoring_memory.py) ==", flush=True)
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scoring_memory.py"),
                        "--attempts", str(args.memory_attempts), "--items", str(args.items)], check=True)
    print("== 2. Stored session end to end: read responses, score, write results ==", flush=True)
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        stored_half(backend, args.attempts, args.items)


if __name__ == "__main__":
    main()
