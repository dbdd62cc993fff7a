"""Assembling forms is a job (assembly.assemble) run by the worker: the screen submits the solve and shows the
job page; only bank managers start or read it. (What the bank certainly lacks is still said at once, with no
job: test_views.test_infeasible_blueprint_shows_the_shortage.)"""

from __future__ import annotations

from assembly_bank import rich_bank, small_spec
from flask import Flask
from job_routes import job_of, refused_job
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from test_views import login

from exam_server.jobs.models import Job
from item_bank.blueprints import create_blueprint
from item_bank.models import Form


def test_assembling_is_a_job_of_the_bank_manager(app: Flask, session: Session) -> None:
    rich_bank(session)
    bp = create_blueprint(session, small_spec(), "t")
    session.commit()
    client = app.test_client()
    token = login(client, session, ["bank_manager"])

    job = job_of(session, client.post(f"/assembly/blueprints/{bp.id}/assemble",
                                      data={"csrf_token": token, "forms": "2", "time_limit": "20", "seed": "3"}),
                 "assembly.assemble")
    forms = session.scalars(select(Form).where(Form.blueprint_id == bp.id).order_by(Form.code)).all()
    assert [f.code for f in forms] == job.result["forms"] and len(forms) == 2
    assert {f.assembly_group for f in forms} == {job.result["group"]}
    assert all(len(f.items) == 10 for f in forms)
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "已组成 2 份试卷" in page and f"/assembly/forms/{forms[0].id}" in page

    # The same seed again: the job stores nothing and names the form the new one would copy.
    stored = session.scalar(select(func.count(Form.id)))
    data = {"csrf_token": token, "forms": "1", "time_limit": "20", "seed": "3"}
    response = client.post(f"/assembly/blueprints/{bp.id}/assemble", data=data)
    twice = session.get(Job, int(response.headers["Location"].rsplit("/", 1)[1]), populate_existing=True)
    assert twice is not None and twice.status == "failed"
    assert forms[0].code in (twice.error or "") and "完全相同" in (twice.error or "")
    assert session.scalar(select(func.count(Form.id))) == stored
    kept = job_of(session, client.post(f"/assembly/blueprints/{bp.id}/assemble",
                                       data={**data, "allow_identical": "1"}), "assembly.assemble")
    assert kept.status == "done" and session.scalar(select(func.count(Form.id))) == stored + 1

    before = session.scalar(select(func.count(Job.id)))
    proctor = app.test_client()
    proctor_token = login(proctor, session, ["proctor"])
    assert proctor.post(f"/assembly/blueprints/{bp.id}/assemble",
                        data={"csrf_token": proctor_token, "forms": "1"}).status_code == 403
    assert session.scalar(select(func.count(Job.id))) == before
    refused_job(proctor, job)
    refused_job(app.test_client(), job)

