"""A centre with a seeded sitting, and a site node's own database (SQLite, a separate file) reached through a plain
session: the package functions take the session they work on, and the exchange is files and signatures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from item_bank.db import Base, make_engine, make_session_factory

SITE_CODE = "GZ01"  # the demo centre's site (exam_server/demo.py DEMO_SITE)


@dataclass
class Exchange:
    centre: Session
    site: Session
    seeded: Any
    sitting_code: str
    site_db: Path
    centre_instance: Path
    site_instance: Path

    def export(self, path: Path) -> Path:
        from exam_server.core import signing
        from exam_server.sessions.models import ExamSession, Site
        from exam_server.sitenode import package

        exam_session = self.centre.get(ExamSession, self.seeded.exam_session_id)
        site = self.centre.query(Site).filter_by(code=SITE_CODE).one()
        built = package.build_package(self.centre, exam_session, site, signing.load_private_key(self.centre_instance),
                                      "cli:test", secret_key="test-secret", hash_profile="low")
        path.write_bytes(built.data)
        return path

    def import_(self, path: Path, **kwargs: Any) -> dict[str, Any]:
        from exam_server.sitenode import package

        return package.import_package(self.site, path, "cli:site", site_code=kwargs.pop("site_code", SITE_CODE),
                                      **kwargs)


@pytest.fixture
def exchange(app: Flask, session: Session, small_bank_csv: Path, tmp_path: Path) -> Iterator[Exchange]:
    from exam_server.core import signing
    from exam_server.demo import seed_exam
    from exam_server.sessions.models import ExamSession
    from exam_server.sitenode import keys

    seeded = seed_exam(session, bank_path=small_bank_csv, n_candidates=3, hash_profile="low", keep_sealed=True,
                       check_in_all=False, staff_password="pw-staff")
    code = session.get(ExamSession, seeded.exam_session_id).code
    centre_instance, site_instance = tmp_path / "centre-instance", tmp_path / "site-instance"
    centre_public = signing.generate_node_key(centre_instance)
    site_public = signing.generate_node_key(site_instance)
    keys.register_key(session, "site", SITE_CODE, signing.public_key_text(site_public), "cli:test")
    site_db = tmp_path / "site.db"
    engine = make_engine(f"sqlite:///{site_db}")
    Base.metadata.create_all(engine)
    site = make_session_factory(engine)()
    keys.register_key(site, "centre", "centre", signing.public_key_text(centre_public), "cli:test")
    yield Exchange(session, site, seeded, code, site_db, centre_instance, site_instance)
    site.close()
    engine.dispose()
