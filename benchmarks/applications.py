"""Time a pilot unit's application import: a 5,000-row workbook of valid trainees, read and stored all or nothing.

    python -m benchmarks.applications [--rows 5000] [--database-url postgresql://127.0.0.1/test]

Builds a fresh database (SQLite in a temporary folder unless --database-url names another, whose tables are
dropped and made again), one centre, two units and level 5 open, writes the workbook (generated people with
correct GB 11643 check digits, a third of them theory-exempt), then times the same steps
`examctl import-applications` runs: reading the workbook (archive check, openpyxl) and checking and storing every
row (one transaction, an audit row each). Prints each figure and the total.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from openpyxl import Workbook


def build_rows(n: int, today: dt.date, unit_name: str) -> list[list[object]]:
    from exam_server.applications.idcard import make_id_number

    rows = []
    for i in range(n):
        birth = dt.date(1970, 1, 1) + dt.timedelta(days=(i * 37) % 12000)
        issued = today - dt.timedelta(days=300 + (i * 53) % 3000)
        rows.append([f"学员{i:05d}", make_id_number(f"44{i % 20:02d}06", birth, i % 1000), "男" if i % 1000 % 2 else "女",
                     f"13{i:09d}", "某保安服务有限公司", f"粤公保{i:08d}", issued.isoformat(),
                     ("初级保安员", "初级", "五级", "5")[i % 4], unit_name])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server import create_app
    from exam_server.applications import operations as ops
    from exam_server.applications.excel import read_workbook
    from exam_server.applications.intake import COLUMNS, local_today
    from exam_server.extensions import db
    from exam_server.organisations.models import Centre, City, PilotUnit, Province
    from item_bank.db import Base as ModelBase

    folder = Path(tempfile.mkdtemp(prefix="bench-applications-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "JOBS_BACKEND": "immediate", "LOG_LEVEL": "WARNING",
                      "RUN_BACKGROUND_TASKS": False, "JOBS_DIR": str(folder / "jobs"),
                      "JOBS_UPLOAD_DIR": str(folder / "uploads"), "JOBS_QUEUE_DB": str(folder / "queue.db")})
    with app.app_context():
        engine = db.engine
        ModelBase.metadata.drop_all(engine)
        ModelBase.metadata.create_all(engine)
        s = db.session
        province = Province(code="P", name="省")
        s.add(province)
        s.flush()
        city = City(code="CY1", name="市", parent_id=province.id)
        s.add(city)
        s.flush()
        centre = Centre(code="C1", name="鉴定中心", parent_id=city.id)
        s.add(centre)
        s.flush()
        unit = PilotUnit(code="U1", name="保安培训学校", parent_id=city.id, centre_id=centre.id, levels=[5, 4])
        s.add(unit)
        s.commit()
        today = local_today()
        for part in ("theory", "skill"):
            ops.open_window(s, level=5, part=part, opens_on=today, closes_on=today + dt.timedelta(days=30),
                            exam_on=today + dt.timedelta(days=60), actor="cli:bench")

        path = folder / "applications.xlsx"
        started = time.perf_counter()
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("申请")
        ws.append(list(COLUMNS))
        for row in build_rows(args.rows, today, unit.name):
            ws.append(row)
        wb.save(path)
        written = time.perf_counter() - started

        started = time.perf_counter()
        sheet = read_workbook(path)
        read = time.perf_counter() - started
        assert not sheet.problems, sheet.problems[:5]
        started = time.perf_counter()
        result = ops.import_rows(s, unit, sheet.rows, actor="cli:bench", file=path.name)
        stored = time.perf_counter() - started
        backend = url.split(":", 1)[0]
        print(f"backend {backend}; workbook {args.rows} rows, {path.stat().st_size / 1024:.0f} KB "
              f"(written in {written:.2f} s)")
        print(f"read (archive check + openpyxl): {read:.2f} s")
        print(f"check + store ({result.created} applications, {result.exempt} theory-exempt): {stored:.2f} s")
        print(f"import total: {read + stored:.2f} s ({args.rows / (read + stored):.0f} rows/s)")
        s.close()
        if args.database_url:
            ModelBase.metadata.drop_all(engine)


if __name__ == "__main__":
    main()
