"""Benchmark: import speed of the shared bank, and search latency on a generated 50,000-item bank.

    python benchmarks/bank_search.py                          # SQLite in a scratch folder, 50,000 items
    python benchmarks/bank_search.py --items 20000 --repeat 30
    python benchmarks/bank_search.py --database-url postgresql+psycopg2://postgres@127.0.0.1:5432/bench

1. Imports item_bank/data/baoan_items.csv (1,696 items) into an empty bank through `import_items` (the same
   operation as `examctl import-items`), three times into fresh databases, and prints items/s.
2. Generates a 50,000-item bank as a CSV (the shared bank's stems, options, types and areas, varied so
   every stem is distinct; 2 % left in review, 1 % unclassified) and imports it the same way.
3. Times the searches authors and reviewers run (text, level, area subtree, type, status, deep pages,
   the review queue) through `search_items`, and the item list page through the Flask test client,
   and prints median and 95th-percentile milliseconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import exam_server.models  # noqa: E402,F401  (fills Base.metadata)
from item_bank.batches import approve_batch  # noqa: E402
from item_bank.data import DEMO_BANK_CSV  # noqa: E402
from item_bank.db import Base, make_engine, make_session_factory  # noqa: E402
from item_bank.importing import import_items  # noqa: E402
from item_bank.models import IN_REVIEW, ItemVersion, KnowledgeArea  # noqa: E402
from item_bank.review import Reviewer  # noqa: E402
from item_bank.search import UNCLASSIFIED, ItemQuery, review_queue, search_items  # noqa: E402

SHARED = DEMO_BANK_CSV
# An import waits for review; a second person approves its batch (the search is timed on an approved bank).
IMPORTER, REVIEWER = Reviewer("bench:importer", 1, frozenset({"bank_manager"})), Reviewer("bench:reviewer", 2, frozenset({"reviewer"}))
PLACES = ["小区", "商场", "医院", "学校", "工厂", "车站", "银行", "写字楼", "仓库", "体育馆", "码头", "机场"]
TIMES = ["夜间", "清晨", "节假日", "雨天", "交接班时", "大型活动期间", "停电时", "高峰时段"]


def fresh_database(url: str | None, folder: Path, name: str) -> tuple[Any, str]:
    if url is None:
        url = f"sqlite:///{folder / name}.db"
    engine = make_engine(url)
    if not url.startswith("sqlite"):
        Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    return engine, url


def import_speed(url: str | None, folder: Path, runs: int) -> list[float]:
    rates = []
    for i in range(runs):
        engine, _ = fresh_database(url, folder, f"shared{i}")
        session = make_session_factory(engine)()
        report = import_items(session, SHARED, actor=IMPORTER.actor, author_id=IMPORTER.user_id)
        rates.append(report.items_per_s)
        print(
            f"  run {i + 1}: {report.items_read} items in {report.elapsed_s:.3f} s = {report.items_per_s:,.0f} items/s"
        )
        session.close()
        engine.dispose()
    return rates


def generate_csv(path: Path, n: int, seed: int) -> None:
    """n items built from the shared bank: each stem gets a scene prefix and a serial, so all are distinct."""
    rng = random.Random(seed)
    with SHARED.open(encoding="utf-8") as fh:
        base = list(csv.DictReader(fh))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "type", "stem", "options", "answer", "knowledge_area", "source"])
        for i in range(n):
            row = base[i % len(base)]
            options = json.loads(row["options"])
            if row["type"] != "judge":
                # Shuffle options and move the key with them, as a differently drafted variant would.
                order = list(range(len(options)))
                rng.shuffle(order)
                answer = "".join(sorted("ABCDEFGH"[order.index("ABCDEFGH".index(k))] for k in row["answer"]))
                options = [options[j] for j in order]
            else:
                answer = row["answer"]
            stem = f"{rng.choice(TIMES)}在{rng.choice(PLACES)}（第{i // len(base) + 1}套第{i + 1}号）：{row['stem']}"
            area = "" if rng.random() < 0.01 else row["knowledge_area"]
            writer.writerow(
                [
                    f"GEN-{i + 1:06d}",
                    row["type"],
                    stem,
                    json.dumps(options, ensure_ascii=False),
                    answer,
                    area,
                    "generated",
                ]
            )


def timed(fn: Any, repeat: int) -> tuple[float, float, Any]:
    samples = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--import-runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: SQLite files in a scratch folder")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bank-bench-") as tmp:
        folder = Path(tmp)
        backend = "SQLite" if args.database_url is None else args.database_url.split(":")[0]
        print(f"== Import of the shared bank ({SHARED.name}, 1,696 items) on {backend}")
        rates = import_speed(args.database_url, folder, args.import_runs)
        print(f"  median {statistics.median(rates):,.0f} items/s")

        print(f"== Generating and importing a {args.items:,}-item bank")
        big = folder / "big.csv"
        generate_csv(big, args.items, args.seed)
        engine, url = fresh_database(args.database_url, folder, "big")
        session = make_session_factory(engine)()
        report = import_items(session, big, actor=IMPORTER.actor, author_id=IMPORTER.user_id)
        print(
            f"  {report.items_read:,} items in {report.elapsed_s:.1f} s = {report.items_per_s:,.0f} items/s"
        )
        approve_batch(session, report.batch_id or 0, REVIEWER)
        session.commit()
        # Two percent of the bank waits for review.
        ids = session.scalars(select_ids()).all()
        rng = random.Random(args.seed)
        waiting = rng.sample(list(ids), max(1, len(ids) // 50))
        session.execute(
            ItemVersion.__table__.update().where(ItemVersion.id.in_(waiting)).values(status=IN_REVIEW)
        )
        session.commit()
        if engine.dialect.name == "sqlite":
            session.execute(text_sql("ANALYZE"))
            session.commit()
        else:
            session.commit()
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        basics = session.scalar(select_area("基础知识"))
        fire = session.scalar(select_area("消防安全"))

        queries: list[tuple[str, ItemQuery]] = [
            ("first page, no filter", ItemQuery()),
            ("text 火灾", ItemQuery(text="火灾")),
            ("text 灭火器 + type single", ItemQuery(text="灭火器", type="single")),
            ("text, no match", ItemQuery(text="量子计算机")),
            ("item id", ItemQuery(text="GEN-031415")),
            ("level 5 + single + approved", ItemQuery(level=5, type="single", status="approved")),
            ("area subtree 基础知识", ItemQuery(area_id=basics)),
            ("area 消防安全 + multiple + text 消防", ItemQuery(area_id=fire, type="multiple", text="消防")),
            ("unclassified", ItemQuery(area_id=UNCLASSIFIED)),
            ("newest first", ItemQuery(sort="newest")),
            ("page 500 (deep offset)", ItemQuery(page=500)),
        ]
        print(
            f"== Search latency on {report.items_read:,} items ({backend}), {args.repeat} runs each, 50 rows a page"
        )
        print(f"  {'query':44s} {'matches':>8s} {'median ms':>10s} {'p95 ms':>8s}   (counts stop at 2,000+)")
        for label, q in queries:
            med, p95, result = timed(lambda q=q: search_items(session, q), args.repeat)
            print(f"  {label:44s} {result.total_label:>8s} {med:10.1f} {p95:8.1f}")
        med, p95, result = timed(lambda: review_queue(session, ItemQuery()), args.repeat)
        print(
            f"  {'review queue (in_review, oldest first)':44s} {result.total_label:>8s} {med:10.1f} {p95:8.1f}"
        )
        session.close()

        print("== Item list page (/bank/items, server-rendered HTML) through the Flask test client")
        page_latency(url, args.repeat)
        engine.dispose()


def select_ids() -> Any:
    from sqlalchemy import select

    return select(ItemVersion.id)


def select_area(name: str) -> Any:
    from sqlalchemy import select

    return select(KnowledgeArea.id).where(KnowledgeArea.name == name, KnowledgeArea.level == 5)


def text_sql(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)


def page_latency(url: str, repeat: int) -> None:
    from exam_server import create_app
    from exam_server.core.models import User
    from exam_server.core.security import hash_password
    from exam_server.extensions import db

    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": True, "WTF_CSRF_ENABLED": False,
         "RUN_BACKGROUND_TASKS": False, "SOCKETIO_ASYNC_MODE": "threading"}
    )  # fmt: skip
    with app.app_context():
        db.session.add(User(username="bench", display_name="bench", roles=["bank_manager"],
                            password_hash=hash_password("pw", "low")))  # fmt: skip
        db.session.commit()
    client = app.test_client()
    client.post("/staff/login", data={"username": "bench", "password": "pw"})
    for path in ("/bank/items", "/bank/items?q=火灾&level=5&type=single", "/bank/review", "/bank/coverage"):
        med, p95, response = timed(lambda path=path: client.get(path), repeat)
        assert response.status_code == 200, (path, response.status_code)
        print(f"  GET {path:44s} median {med:7.1f} ms   p95 {p95:7.1f} ms")
    with app.app_context():
        db.dispose()


if __name__ == "__main__":
    main()
