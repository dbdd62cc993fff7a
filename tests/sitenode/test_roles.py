"""A site node's role: no bank, assembly or results release; a sealed paper cannot be started."""

from __future__ import annotations

import pytest
from conftest import Sitting
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.delivery import steps
from exam_server.delivery.errors import DeliveryError
from exam_server.delivery.models import Attempt
from exam_server.sessions.models import ExamSession

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_sealed_paper_cannot_be_started(app: Flask, session: Session, sitting: Sitting) -> None:
    attempt = session.get(Attempt, sitting.attempt_ids[0])
    session.get(ExamSession, attempt.session_id).paper_sealed = True
    session.commit()
    with pytest.raises(DeliveryError, match="试卷尚未解封"):
        steps.start(session, attempt.id, "candidate")
    session.get(ExamSession, attempt.session_id).paper_sealed = False
    session.commit()
    ack, _ = steps.start(session, attempt.id, "candidate")
    assert ack["ok"] and session.scalar(select(Attempt.status).where(Attempt.id == attempt.id)) == "in_progress"


def test_a_site_serves_no_bank_assembly_or_results(app: Flask, session: Session, sitting: Sitting) -> None:
    session.add(User(username="root", display_name="管理员", roles=["admin"],
                     password_hash=hash_password("pw-staff", "low")))
    session.commit()
    client = app.test_client()
    sitting.staff_login(client, "root")
    paths = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    centre_only = [paths["bank.items"], paths["assembly.forms"], paths["results.reviews"]]
    assert all(client.get(p).status_code == 200 for p in centre_only)
    app.config["NODE_ROLE"] = "site"
    try:
        for path in centre_only:
            response = client.get(path)
            assert response.status_code == 404 and "考点服务器" in response.get_data(as_text=True), path
        console = client.get(paths["proctoring.console"])
        assert console.status_code == 200 and paths["bank.items"] not in console.get_data(as_text=True)
    finally:
        app.config["NODE_ROLE"] = "centre"
