"""The screens: the centre builds a package as a job and reads the release code; a site node (its own app and
database) imports the upload as a job and its chief proctor unseals with the code."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from conftest import Sitting, app_config, csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from exam_server.core import signing
from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.jobs import Job
from exam_server.sessions.models import ExamSession, Site
from exam_server.sitenode import keys
from item_bank.db import Base, make_engine

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _login(client: FlaskClient, username: str) -> str:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": "pw-staff", "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return token


def _job_of(response: TestResponse) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/jobs/(\d+)", response.headers["Location"]).group(1))


def test_package_out_and_in_through_the_screens(app: Flask, session: Session, sitting: Sitting,
                                               tmp_path: Path) -> None:
    from exam_server.extensions import db

    signing.generate_node_key(app.instance_path)
    centre_key = signing.public_key_text(signing.load_public_key(app.instance_path))
    exam_session = session.get(ExamSession, sitting.seeded.exam_session_id)
    code = exam_session.code
    site = session.scalar(select(Site).where(Site.code == "GZ01"))
    centre = app.test_client()
    token = _login(centre, "staff")
    assert code in centre.get("/site-node/exports").get_data(as_text=True)
    job_id = _job_of(centre.post(f"/site-node/exports/{exam_session.id}/{site.id}", data={"csrf_token": token}))
    job = session.get(Job, job_id)
    assert job.status == "done", job.error
    package = centre.get(f"/jobs/{job_id}/file").data
    assert package[:2] == b"PK"
    page = centre.get(f"/site-node/exports/{exam_session.id}/{site.id}/code").get_data(as_text=True)
    release = re.search(r'data-field="code"[^>]*>([0-9A-Z-]{35})<', page).group(1)

    # The site: its own database and instance folder; the app binds the shared `db` to it from here on.
    url = f"sqlite:///{tmp_path / 'site.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    from exam_server import create_app

    site_app = create_app(app_config(url, SECRET_KEY="site-secret", NODE_ROLE="site", SITE_CODE="GZ01",
                                     JOBS_DIR=str(tmp_path / "sj" / "files"), JOBS_UPLOAD_DIR=str(tmp_path / "sj" / "up"),
                                     JOBS_QUEUE_DB=str(tmp_path / "sj" / "q.db")))
    site_app.instance_path = str(tmp_path / "site-instance")
    with site_app.app_context():
        db.session.add(User(username="sitestaff", display_name="考点", roles=["centre_staff"],
                            password_hash=hash_password("pw-staff", "low")))
        db.session.commit()
        keys.register_key(db.session, "centre", "centre", centre_key, "cli:test")
        client = site_app.test_client()
        token = _login(client, "sitestaff")
        assert client.get(f"/site-node/exports/{exam_session.id}/{site.id}/code").status_code == 404
        upload = {"csrf_token": token, "package": (io.BytesIO(package), "pkg.zip"), "sitting": code}
        job_id = _job_of(client.post("/site-node/import", data=upload, content_type="multipart/form-data"))
        job = db.session.get(Job, job_id)
        assert job.status == "done", job.error
        assert "封存中" in client.get("/site-node/import").get_data(as_text=True)
        sitting_id = db.session.scalar(select(ExamSession.id).where(ExamSession.code == code))
        wrong = client.post(f"/site-node/unseal/{sitting_id}", data={"csrf_token": token, "code": "0" * 30},
                            follow_redirects=True)
        assert "解封码" in wrong.get_data(as_text=True) and "不符" in wrong.get_data(as_text=True)
        assert db.session.scalar(select(ExamSession.paper_sealed).where(ExamSession.id == sitting_id)) is True
        right = client.post(f"/site-node/unseal/{sitting_id}", data={"csrf_token": token, "code": release},
                            follow_redirects=True)
        assert "已解封" in right.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.scalar(select(ExamSession.paper_sealed).where(ExamSession.id == sitting_id)) is False
        db.dispose()
