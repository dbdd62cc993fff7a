"""A job's page (progress bar polling its JSON), its result file, cancelling, and the list of one's jobs.

Only the job's submitter, or staff holding a role its kind names, may read a job; anyone else is told it does not
exist (404), so job numbers reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response

from exam_server.core.errors import wants_json
from exam_server.extensions import db, login_manager
from exam_server.jobs import files
from exam_server.jobs.models import DONE, Job
from exam_server.jobs.operations import cancel_job
from exam_server.jobs.queries import job_summary, may_read, visible_jobs
from exam_server.jobs.queue import job_queue
from exam_server.jobs.registry import label_of

blueprint = Blueprint("jobs", __name__, url_prefix="/jobs")

F = TypeVar("F", bound=Callable[..., Any])


def staff_only(view: F) -> F:
    """Jobs are staff work: anonymous visitors are sent to log in, candidates find nothing here."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.is_candidate:
            abort(404)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _readable(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None or not may_read(job, current_user.actor, current_user.has_role):
        abort(404, description="任务不存在，或您无权查看。")
    return job


def _file_url(job: Job) -> str | None:
    if job.status != DONE or not job.result_file:
        return None
    return url_for("jobs.download", job_id=job.id)


@blueprint.get("/")
@staff_only
def index() -> str:
    jobs = visible_jobs(db.session, current_user.actor, current_user.has_role)
    return render_template("jobs/list.html", jobs=jobs, label_of=label_of)


@blueprint.get("/<int:job_id>")
@staff_only
def page(job_id: int) -> str:
    job = _readable(job_id)
    return render_template("jobs/job.html", job=job, label=label_of(job.kind), file_url=_file_url(job))


@blueprint.get("/<int:job_id>.json")
@staff_only
def status(job_id: int) -> Response:
    job = _readable(job_id)
    response = jsonify({**job_summary(job), "file_url": _file_url(job), "page_url": url_for("jobs.page", job_id=job.id)})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/<int:job_id>/file")
@staff_only
def download(job_id: int) -> Response:
    job = _readable(job_id)
    path = files.result_path(job_queue().jobs_dir, job.id, job.result_file) if _file_url(job) else None
    if path is None or job.result_file is None:
        abort(404, description="该任务没有可下载的文件，或文件已被清理。")
    response = send_file(path, as_attachment=True, download_name=job.result_file, max_age=0)
    # Whatever a job wrote is saved, never rendered: no type sniffing, and a sandbox if a browser opened it anyway.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.post("/<int:job_id>/cancel")
@staff_only
def cancel(job_id: int) -> ResponseReturnValue:
    _readable(job_id)
    job = cancel_job(job_id, current_user.actor)
    if wants_json():
        return jsonify({"ok": True, **job_summary(job)})
    flash("已取消任务。" if job.finished else "已请求取消，任务将在当前步骤结束后停止。")
    return redirect(url_for("jobs.page", job_id=job.id))
