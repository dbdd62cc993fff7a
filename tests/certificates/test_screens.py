"""The certificate screens: centre staff issue (a job), print, revoke and reissue with a reason (audited); other
roles are refused; the holder sees and downloads only their own."""

from __future__ import annotations

from certificates_support import pass_level, seeded_centre, set_codes
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.certificates.models import REPLACED, REVOKED, VALID, Certificate
from exam_server.sessions.models import Ticket
from item_bank.audit import AuditEvent


def test_issue_print_revoke_reissue_and_the_holders_page(app: Flask, session: Session, sitting) -> None:
    set_codes(session, seeded_centre(session))
    sid = sitting.seeded.exam_session_id
    tickets = list(session.scalars(select(Ticket).where(Ticket.session_id == sid).order_by(Ticket.id)))
    pass_level(session, sid, [t.candidate_id for t in tickets[:2]])

    proctor = app.test_client()
    sitting.staff_login(proctor, "proctor")
    assert proctor.get("/certificates/").status_code in (302, 403)

    staff = app.test_client()
    token = sitting.staff_login(staff)
    assert staff.post(f"/certificates/sittings/{sid}/issue", data={"csrf_token": token}).status_code == 302
    certs = list(session.scalars(select(Certificate).order_by(Certificate.id)))
    assert [c.candidate_id for c in certs] == [t.candidate_id for t in tickets[:2]]
    listing = staff.get(f"/certificates/?sitting={tickets[0].session.code}").get_data(as_text=True)
    assert all(c.number in listing for c in certs)
    for size in ("a4", "cert"):
        pdf = staff.get(f"/certificates/{certs[0].id}/pdf?size={size}")
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    refused = staff.post(f"/certificates/{certs[0].id}/revoke", data={"csrf_token": token, "reason": " "})
    assert refused.status_code == 400 and "请填写原因" in refused.get_data(as_text=True)
    assert staff.post(f"/certificates/{certs[0].id}/revoke",
                      data={"csrf_token": token, "reason": "冒名顶替"}).status_code == 302
    assert staff.post(f"/certificates/{certs[1].id}/reissue",
                      data={"csrf_token": token, "reason": "遗失"}).status_code == 302
    session.expire_all()
    assert session.get(Certificate, certs[0].id).status == REVOKED
    assert session.get(Certificate, certs[1].id).status == REPLACED
    new = session.scalar(select(Certificate).where(Certificate.replaces_id == certs[1].id))
    assert new is not None and new.status == VALID
    actions = {(e.action, e.after.get("reason") if e.after else None) for e in session.scalars(select(AuditEvent))}
    assert ("certificate.revoke", "冒名顶替") in actions and ("certificate.reissue", "遗失") in actions

    holder = app.test_client()
    sitting.login(holder, 1)
    page = holder.get("/certificates/mine").get_data(as_text=True)
    assert new.number in page and certs[0].number not in page
    assert holder.get(f"/certificates/mine/{new.id}.pdf").data.startswith(b"%PDF")
    assert holder.get(f"/certificates/mine/{certs[0].id}.pdf").status_code == 404  # another person's
    assert holder.get("/certificates/").status_code in (302, 403)
