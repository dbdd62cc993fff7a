"""Helpers for tests of routes that hand their work to a job: the job a response redirected to, and its file."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from exam_server.jobs.models import DONE, Job


def job_of(session: Session, response: TestResponse, kind: str) -> Job:
    """The job of `kind` that `response` (a route's redirect to /jobs/<id>) submitted, done (JOBS_BACKEND=immediate)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = re.search(r"/jobs/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    job = session.get(Job, int(match.group(1)), populate_existing=True)
    assert job is not None and job.kind == kind
    assert job.status == DONE, job.error
    return job


def job_file(client: FlaskClient, job: Job) -> bytes:
    """The job's result file as its reader downloads it."""
    response = client.get(f"/jobs/{job.id}/file")
    assert response.status_code == 200, response.status_code
    return response.data


def refused_job(client: FlaskClient, job: Job) -> None:
    """Someone who may not use the route cannot read its job either: the page, its JSON and its file are 404."""
    for path in (f"/jobs/{job.id}", f"/jobs/{job.id}.json", f"/jobs/{job.id}/file"):
        assert client.get(path).status_code in (302, 401, 404), path
