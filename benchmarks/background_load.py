"""Background-work benchmark: candidates' save latency while the job worker imports, exports and assembles.

Run from the repository root (defaults: 500 candidates, SQLite, one exam server and one `examctl worker`):

    python benchmarks/background_load.py
    python benchmarks/background_load.py --candidates 200 --idle-s 40 --sitting-s 200     # a quick look
    python benchmarks/background_load.py --backend postgresql                              # PostgreSQL; queue on Redis

The sitting is the exam-day load benchmark's (benchmarks/load.py: the same seeded sitting, the same simulated
candidates over Socket.IO, the same latency measure), with no server kill. The exam server (`examctl run`) and
a separate job worker (`examctl worker`) run as their own processes. For the first `--idle-s` seconds the
worker is idle; then three jobs are submitted at once, as the screens submit them:

- bank.import: the shipped bank (item_bank/data/baoan_items.csv) repeated and lightly perturbed to
  `--import-rows` rows (new ids, each stem changed), a real import (not a dry run);
- bank.export: the whole bank as xlsx with its images (`--images` raster images attached to items beforehand);
- assembly.assemble: `--forms` parallel forms of the sitting's 100-item blueprint (HiGHS, `--time-limit` s).

Saves sent while the worker was idle (after the start burst) and saves sent while any job ran are measured
separately, in the same run; the ratio of their p99 is the figure (target: at most 1.5).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing as mp
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import load  # noqa: E402  (benchmarks/load.py: the sitting, the candidates, the servers)

ROOT = load.ROOT
BANK_CSV = load.DEFAULT_BANK
JOB_KINDS = ("bank.import", "bank.export", "assembly.assemble")
ACTOR = "user:manager"  # the seeded bank manager (exam_server/demo.py STAFF_ACCOUNTS)
# Saves sent in the first seconds ride the start burst (everyone pressing 开始考试): not the idle baseline.
START_BURST_MARGIN_S = 5.0


# ------------------------------------------------------------------ the work the jobs are given


def big_bank_csv(path: Path, rows: int, seed: int) -> int:
    """The shipped bank repeated to `rows` rows: new ids, each copy's stem changed (a number and a swapped
    phrase), so the import stores new items rather than finding them unchanged. Returns the bytes written."""
    rng = random.Random(seed)
    with BANK_CSV.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        source = list(reader)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for i in range(rows):
        row = dict(source[i % len(source)])
        copy = i // len(source) + 1
        row["id"] = f"BIG-{i + 1:06d}"
        stem = row["stem"]
        cut = rng.randrange(1, max(2, len(stem) - 1))
        row["stem"] = f"（练习{copy}-{rng.randrange(1000)}）{stem[cut:]}{stem[:cut]}"
        writer.writerow(row)
    data = out.getvalue().encode("utf-8")
    path.write_bytes(data)
    return len(data)


def noise_png(rng: random.Random, size: int) -> bytes:
    """A `size`×`size` PNG of random pixels (incompressible: an export's images cost their full size)."""
    from PIL import Image

    image = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def attach_images(url: str, n: int, size: int, seed: int) -> tuple[int, int]:
    """Give `n` current item versions that no form uses an image each (stored as the bank stores media).
    Returns (images, bytes)."""
    from sqlalchemy import select, update

    from exam_server import create_app
    from exam_server.extensions import db
    from item_bank.media import save_media
    from item_bank.models import FormItem, Item, ItemVersion

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": load.SECRET, "SOCKETIO_ASYNC_MODE": "threading",
                      "RUN_BACKGROUND_TASKS": False, "JOBS_BACKEND": "immediate"})
    rng = random.Random(seed)
    total = 0
    with app.app_context():
        session = db.session
        used = select(FormItem.item_version_id)
        versions = session.scalars(
            select(ItemVersion).join(Item, Item.current_version_id == ItemVersion.id)
            .where(ItemVersion.id.not_in(used)).order_by(ItemVersion.id).limit(n)
        ).all()
        table = ItemVersion.__table__
        for k, version in enumerate(versions):
            data = noise_png(rng, size)
            total += len(data)
            media = save_media(session, f"bench-{k:04d}.png", data)
            # Set-up only: a version is immutable to the ORM (an edit is a new version); the bench gives the
            # stored one an image in place so the sitting's seeded bank stays as it is otherwise.
            session.execute(update(table).where(table.c.id == version.id)
                            .values(media=[*(version.media or []), media]))
        session.commit()
        db.dispose()
    return len(versions), total


# ------------------------------------------------------------------ jobs (orchestrator side)


def jobs_env(workdir: Path, backend: str, redis_url: str) -> dict[str, str]:
    """Where the exam server, the worker and this script find the queue and the jobs' files."""
    env = {
        "JOBS_DIR": str(workdir / "jobs" / "files"),
        "JOBS_UPLOAD_DIR": str(workdir / "jobs" / "uploads"),
        "JOBS_QUEUE_NAME": "exam-jobs-bench",
    }
    if backend == "postgresql":
        env.update(JOBS_BACKEND="redis", JOBS_REDIS_URL=redis_url)
    else:
        env.update(JOBS_BACKEND="sqlite", JOBS_QUEUE_DB=str(workdir / "jobs" / "queue.db"))
    return env


class Submitter:
    """Submits the three jobs through the app's own `submit_job`, as the screens do, and watches them."""

    def __init__(self, url: str, jobs: dict[str, str]) -> None:
        from exam_server import create_app

        config: dict[str, Any] = {"DATABASE_URL": url, "SECRET_KEY": load.SECRET, "SOCKETIO_ASYNC_MODE": "threading",
                                  "RUN_BACKGROUND_TASKS": False}
        config.update(jobs)
        self.app = create_app(config)

    def known(self) -> list[str]:
        from exam_server.jobs.registry import handler_for

        return [kind for kind in JOB_KINDS if handler_for(kind) is not None]

    def submit(self, csv_path: Path, n_forms: int, time_limit_s: float, kinds: list[str]) -> dict[str, int]:
        from sqlalchemy import select

        from exam_server.extensions import db
        from exam_server.jobs import stash_upload, submit_job
        from item_bank.models import Blueprint

        ids: dict[str, int] = {}
        known = [kind for kind in self.known() if kind in kinds]
        with self.app.app_context():
            if "bank.import" in known:
                with csv_path.open("rb") as stream:
                    token = stash_upload(stream, ".csv")
                ids["bank.import"] = submit_job("bank.import", {"upload": token, "name": csv_path.name,
                                                                "dry_run": False}, ACTOR).id
            if "bank.export" in known:
                ids["bank.export"] = submit_job("bank.export", {"format": "xlsx", "include_images": True}, ACTOR).id
            if "assembly.assemble" in known:
                bp_id = db.session.scalar(select(Blueprint.id).order_by(Blueprint.id))
                db.session.commit()
                ids["assembly.assemble"] = submit_job("assembly.assemble", {
                    "blueprint_id": bp_id, "n_forms": n_forms, "time_limit_s": time_limit_s, "seed": 1,
                }, ACTOR).id
        return ids

    def states(self, ids: dict[str, int]) -> dict[str, dict[str, Any]]:
        from sqlalchemy import select

        from exam_server.extensions import db
        from exam_server.jobs.models import Job

        with self.app.app_context():
            rows = db.session.scalars(select(Job).where(Job.id.in_(list(ids.values())))).all()
            by_id = {job.id: job for job in rows}
            out = {}
            for kind, job_id in ids.items():
                job = by_id[job_id]
                out[kind] = {
                    "id": job.id, "status": job.status, "finished": job.finished, "progress": job.progress,
                    "message": job.progress_message, "error": job.error,
                    "seconds": (job.finished_at - job.started_at).total_seconds()
                    if job.finished_at and job.started_at else None,
                    "summary": (job.result or {}).get("lines", [])[:1],
                }
            db.session.commit()
            return out


# ------------------------------------------------------------------ the run


def start_worker(env: dict[str, str], log_dir: Path, threads: int, nice: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "exam_server.entry", "worker", "--workers", str(threads), "--nice", str(nice)]
    log = open(log_dir / "worker.log", "ab")  # noqa: SIM115  (kept open for the process's life)
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def run(args: argparse.Namespace, url: str, logins: list[tuple[str, str]], jobs: dict[str, str],
        csv_path: Path) -> dict[str, Any]:
    """One sitting: idle for --idle-s, then the three jobs at once; returns the measurements."""
    plan = load.Plan(args.sitting_s, args.gap[0], args.gap[1], args.change_rate, args.seed, args.start_spread)
    (server,) = load.product_servers(1, url, None, args.pool_size, args.workdir)
    server.env.update(jobs)
    worker_env = dict(server.env)
    submitter = Submitter(url, jobs)
    missing = [kind for kind in JOB_KINDS if kind not in submitter.known()]
    if missing:
        print(f"  NOTE: job kinds not registered in this tree, not submitted: {', '.join(missing)}", flush=True)
    server.start()
    worker = start_worker(worker_env, args.workdir, args.worker_threads, args.worker_nice)
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    controls = [ctx.Queue() for _ in range(args.client_procs)]
    target = load.Target("product", [server.url])
    shares = [[(i, logins[i]) for i in range(k, len(logins), args.client_procs)] for k in range(args.client_procs)]
    clients = [ctx.Process(target=load.worker_main, args=(target, plan, shares[k], ready, controls[k], results))
               for k in range(args.client_procs)]
    for c in clients:
        c.start()
    states: dict[str, dict[str, Any]] = {}
    done_at: float | None = None
    try:
        setup_s = 0.0
        for _ in clients:
            msg = ready.get(timeout=1800)
            if isinstance(msg, str):
                raise RuntimeError(msg)
            setup_s = max(setup_s, msg)
        print(f"  {len(logins)} candidates logged in, connected and joined in {setup_s:.1f} s", flush=True)
        t0 = time.time() + 1.0
        for q in controls:
            q.put(t0)
        time.sleep(max(0.0, t0 + args.idle_s - time.time()))
        submitted_at = time.time() - t0
        ids = submitter.submit(csv_path, args.forms, args.time_limit, args.jobs)
        print(f"  t0+{submitted_at:.0f} s: submitted {', '.join(f'{k} (job {i})' for k, i in ids.items())}",
              flush=True)
        end = t0 + args.sitting_s
        last_print = 0.0
        while time.time() < end:
            states = submitter.states(ids)
            if all(s["finished"] for s in states.values()):
                done_at = time.time() - t0
                print(f"  t0+{done_at:.0f} s: all jobs ended", flush=True)
                break
            if time.time() - last_print > 15:
                last_print = time.time()
                print("  " + "; ".join(f"{k} {s['progress']:.0%} {s['message']}" for k, s in states.items()),
                      flush=True)
            time.sleep(1.0)
        parts = [results.get(timeout=args.sitting_s + 1800) for _ in clients]
        states = submitter.states(ids)
        for c in clients:
            c.join(60)
    finally:
        for c in clients:
            if c.is_alive():
                c.terminate()
        server.stop()
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    failed = [p["failed"] for p in parts if "failed" in p]
    if failed:
        raise RuntimeError(f"client process failed: {failed}")
    saves = sorted(x for p in parts for x in p["save_lat"])
    acked = {int(a): {int(i): tuple(v) for i, v in items.items()} for p in parts for a, items in p["acked"].items()}
    (args.workdir / "latencies-background.json").write_text(json.dumps(
        {"t0": t0, "submitted_at": submitted_at, "jobs_done_at": done_at, "saves": saves}))
    return {
        "saves": saves, "acked": acked, "submitted_at": submitted_at, "done_at": done_at, "jobs": states,
        "errors": dict(sum((Counter(p["errors"]) for p in parts), Counter())),
        "unacked": sum(p["unacked"] for p in parts),
        "submit_done": [x for p in parts for x in p["submit_done"]],
    }


def window(saves: list[tuple[float, float, int]], start: float, end: float) -> dict[str, float]:
    lat = [s[1] * 1000 for s in saves if start <= s[0] < end]
    return {"n": len(lat), "rate": len(lat) / max(end - start, 1e-9), "p50": load.percentile(lat, 50),
            "p95": load.percentile(lat, 95), "p99": load.percentile(lat, 99), "max": max(lat, default=float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description="Save latency idle vs. under background jobs (see the docstring).")
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="the job queue with --backend postgresql")
    parser.add_argument("--sitting-s", type=float, default=420.0, help="seconds from the start burst to the submit burst")
    parser.add_argument("--idle-s", type=float, default=90.0, help="seconds of the sitting before the jobs are submitted")
    parser.add_argument("--gap", type=float, nargs=2, default=[5.0, 15.0], metavar=("MIN", "MAX"),
                        help="seconds between a candidate's answers")
    parser.add_argument("--start-spread", type=float, default=10.0)
    parser.add_argument("--change-rate", type=float, default=0.15)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--import-rows", type=int, default=15000, help="rows of the imported CSV")
    parser.add_argument("--images", type=int, default=300, help="images attached to items before the export")
    parser.add_argument("--image-px", type=int, default=160, help="each image is this many pixels square")
    parser.add_argument("--forms", type=int, default=10, help="parallel forms assembled")
    parser.add_argument("--time-limit", type=float, default=120.0, help="the assembly's solver time limit (s)")
    parser.add_argument("--jobs", nargs="+", choices=JOB_KINDS, default=list(JOB_KINDS),
                        help="which of the three jobs to run (default: all three at once)")
    parser.add_argument("--worker-threads", type=int, default=3, help="`examctl worker --workers` (one process per job): 3 runs all at once")
    parser.add_argument("--worker-nice", type=int, default=10, help="`examctl worker --nice` (0: as the server)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/exam-background"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"background-load benchmark: {args.candidates} candidates, {args.backend}, an answer every "
          f"{args.gap[0]:.0f}-{args.gap[1]:.0f} s, sitting {args.sitting_s:.0f} s, jobs at t0+{args.idle_s:.0f} s, "
          f"worker threads {args.worker_threads}, nice {args.worker_nice}, {os.cpu_count()} cores", flush=True)
    if args.backend == "postgresql":
        import redis

        redis.Redis.from_url(args.redis).flushdb()
    jobs = jobs_env(args.workdir, args.backend, args.redis)
    for key in ("JOBS_DIR", "JOBS_UPLOAD_DIR"):
        Path(jobs[key]).mkdir(parents=True, exist_ok=True)
    if "JOBS_QUEUE_DB" in jobs:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{jobs['JOBS_QUEUE_DB']}{suffix}").unlink(missing_ok=True)

    t = time.monotonic()
    url = load.fresh_database(args.backend, args.workdir)
    logins = load.seed(url, args.candidates, BANK_CSV, duration_s=int(args.sitting_s) + 3 * 3600)
    images, image_bytes = attach_images(url, args.images, args.image_px, args.seed)
    csv_path = args.workdir / f"bank-{args.import_rows}.csv"
    csv_bytes = big_bank_csv(csv_path, args.import_rows, args.seed)
    print(f"  seeded {args.candidates} candidates, {images} images ({image_bytes / 1e6:.1f} MB) on items, "
          f"a {args.import_rows}-row CSV ({csv_bytes / 1e6:.1f} MB) in {time.monotonic() - t:.1f} s", flush=True)

    m = run(args, url, [tuple(x) for x in logins], jobs, csv_path)
    checked, lost, examples = load.lost_answers(m["acked"], load.stored_answers("product", url))
    for e in examples:
        print("  LOST", e)
    submitted = load.submitted_count(url)
    idle = window(m["saves"], args.start_spread + START_BURST_MARGIN_S, m["submitted_at"])
    busy_end = m["done_at"] if m["done_at"] is not None else args.sitting_s
    busy = window(m["saves"], m["submitted_at"], busy_end)

    print("")
    load1, load5, _ = os.getloadavg()
    print(f"candidates {args.candidates} · {args.backend} · total run {time.monotonic() - started:.0f} s · "
          f"load average at the end {load1:.1f} / {load5:.1f} (1 / 5 min)")
    for kind, s in m["jobs"].items():
        took = f"{s['seconds']:.0f} s" if s["seconds"] is not None else "not finished"
        outcome = s["error"] or (s["summary"][0] if s["summary"] else "")
        print(f"  {kind:18} job {s['id']}: {s['status']}, {took}: {outcome}")
    print(f"{'':28}{'saves':>7}{'saves/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}")
    for name, w, span in (("idle worker", idle, (args.start_spread + START_BURST_MARGIN_S, m["submitted_at"])),
                          ("while the jobs ran", busy, (m["submitted_at"], busy_end))):
        print(f"{name:28}{w['n']:>7}{w['rate']:>9.1f}{w['p50']:>8.0f}{w['p95']:>8.0f}{w['p99']:>8.0f}{w['max']:>8.0f}"
              f"   (t0+{span[0]:.0f}..{span[1]:.0f} s)")
    ratio = busy["p99"] / idle["p99"] if idle["p99"] else float("nan")
    print(f"  p99 under the jobs / idle: {ratio:.2f} (target <= 1.5); p95 ratio {busy['p95'] / idle['p95']:.2f}")
    print(f"  {checked} acknowledged answers checked, {lost} lost, {m['unacked']} refused, errors "
          f"{m['errors'] or 'none'}; {submitted} of {args.candidates} attempts submitted")
    if m["done_at"] is None:
        print("  WARNING: the jobs were still running at the end of the sitting: lengthen --sitting-s")
    (args.workdir / "last.json").write_text(json.dumps(
        {"idle": idle, "busy": busy, "ratio": ratio, "jobs": m["jobs"], "lost": lost}, indent=1, default=str))
    sys.exit(0 if lost == 0 and submitted == args.candidates else 1)


if __name__ == "__main__":
    main()
