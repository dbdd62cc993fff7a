"""A site node's role: no bank, assembly or results release; a sealed paper cannot be started."""

from __future__ import annotations

import pytest
from conftest import Sitting
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

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
