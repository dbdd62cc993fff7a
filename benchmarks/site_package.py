"""The sitting package for a test site at a real sitting's size: how big it is and how long each step takes.

    python benchmarks/site_package.py [--candidates 500] [--forms 2] [--profile default] [--photos]

Seeds a centre (the demo bank, the full level-5 theory paper, `--candidates` seated at the demo site, initial
passwords still sealed as after scheduling; `--photos` brings them in through applications with ID photos), then
on this machine, one process, SQLite files: builds the package (the unused initial passwords hashed with argon2 at
`--profile`, the paper sealed, the manifest signed), imports it into a second, empty database, imports it again
(nothing changes) and unseals the paper with the release code. Prints the package's size and each step's time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sandbox import new_database, sqlite_app  # noqa: E402  (the checkout goes on the path first)


def attach_photos(session: Session) -> None:
    """A 30 KB ID photo for every application (random bytes: a JPEG does not compress either)."""
    import hashlib
    import os

    from sqlalchemy import select

    from exam_server.applications.models import ApplicantPhoto, Application

    for application in session.scalars(select(Application)):
        data = os.urandom(30 * 1024)
        photo = ApplicantPhoto(sha256=hashlib.sha256(data).hexdigest(), mime="image/jpeg", width=295, height=413,
                               size=len(data), data=data)
        session.add(photo)
        session.flush()
        application.photo_id = photo.id
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--forms", type=int, default=2)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--photos", action="store_true")
    args = parser.parse_args()

    from sqlalchemy import func, select

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server.core import signing
    from exam_server.delivery.models import Attempt
    from exam_server.demo import seed_exam
    from exam_server.extensions import db
    from exam_server.sessions.models import ExamSession, Site
    from exam_server.sitenode import keys, package
    from item_bank.db import make_engine, make_session_factory

    app, folder, _ = sqlite_app("site-package", database="centre.db", profile=args.profile)
    app.instance_path = str(folder / "centre-instance")
    with app.app_context():
        began = time.perf_counter()
        seeded = seed_exam(db.session, n_candidates=args.candidates, n_forms=args.forms, hash_profile="low",
                           keep_sealed=True, check_in_all=False, via_applications=args.photos)
        print(f"seeded {args.candidates} candidates, {args.forms} forms in {time.perf_counter() - began:.1f} s")
        if args.photos:
            attach_photos(db.session)
        centre_public = signing.generate_node_key(app.instance_path)
        exam_session = db.session.get(ExamSession, seeded.exam_session_id)
        site = db.session.scalar(select(Site).where(Site.code == "GZ01"))
        began = time.perf_counter()
        built = package.build_package(db.session, exam_session, site, signing.load_private_key(app.instance_path),
                                      "bench", secret_key="site-package-benchmark", hash_profile=args.profile)
        build_s = time.perf_counter() - began
        code = package.release_code_for(db.session, exam_session, site.code)
        sitting_code = exam_session.code
    path = folder / "package.zip"
    path.write_bytes(built.data)
    print(f"package: {len(built.data) / 1024 / 1024:.2f} MB, {built.summary}")
    print(f"build (argon2 {args.profile} for each unused password, seal, sign): {build_s:.2f} s")

    site_engine = make_engine(new_database(folder / "site.db"))
    site = make_session_factory(site_engine)()
    keys.register_key(site, "centre", "centre", signing.public_key_text(centre_public), "bench")
    for label in ("import", "import again (no change)"):
        began = time.perf_counter()
        result = package.import_package(site, path, "bench", site_code="GZ01")
        print(f"{label}: {time.perf_counter() - began:.2f} s (already={result['already']})")
    began = time.perf_counter()
    opened = package.unseal_paper(site, sitting_code, code, "bench")
    print(f"unseal: {time.perf_counter() - began:.2f} s ({opened['items']} items)")
    print(f"site attempts: {site.scalar(select(func.count()).select_from(Attempt))}")
    site.close()
    site_engine.dispose()


if __name__ == "__main__":
    main()
