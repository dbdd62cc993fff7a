"""examctl: issue-certificates --sitting --as, list-certificates (a number first on each line), and
verify-certificate's output and exit codes (0 valid, non-zero otherwise)."""

from __future__ import annotations

import re

from certificates_support import pass_level, seeded_centre, set_codes
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.certificates.models import Certificate
from exam_server.certificates.operations import revoke
from exam_server.delivery.models import Attempt
from exam_server.sessions.models import ExamSession, Ticket


def test_issue_list_and_verify(app: Flask, session: Session, sitting) -> None:
    set_codes(session, seeded_centre(session))
    exam_session = session.get(ExamSession, sitting.seeded.exam_session_id)
    candidates = list(session.scalars(select(Ticket.candidate_id).where(Ticket.session_id == exam_session.id)
                                      .order_by(Ticket.id)))
    pass_level(session, exam_session.id, candidates[:2])
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["issue-certificates", "--sitting", exam_session.code, "--as", "proctor"])
    assert refused.exit_code != 0 and session.scalar(select(Certificate)) is None

    issued = runner.invoke(args=["issue-certificates", "--sitting", exam_session.code, "--as", "staff"])
    assert issued.exit_code == 0, issued.output
    listed = runner.invoke(args=["list-certificates", "--sitting", exam_session.code])
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2 and all(re.match(r"^\d{16}\b", line) for line in lines)
    assert runner.invoke(args=["list-certificates"]).output == listed.output
    # Idempotent: a second run issues none.
    runner.invoke(args=["issue-certificates", "--sitting", exam_session.code, "--as", "staff"])
    assert len(list(session.scalars(select(Certificate)))) == 2

    cert = session.scalar(select(Certificate).order_by(Certificate.id))
    valid = runner.invoke(args=["verify-certificate", cert.code])
    assert valid.exit_code == 0 and "证书有效" in valid.output and "等级：五级/初级保安员" in valid.output
    assert cert.name not in valid.output
    unknown = runner.invoke(args=["verify-certificate", "NOSUCHCODE22"])
    assert unknown.exit_code != 0 and "未查到" in unknown.output
    revoke(session, cert.id, "测试撤销", "test")
    revoked = runner.invoke(args=["verify-certificate", cert.code])
    assert revoked.exit_code != 0 and "已撤销" in revoked.output
    assert session.scalar(select(Attempt)) is not None  # the sitting fixture's attempts are untouched
