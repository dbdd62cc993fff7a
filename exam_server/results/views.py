"""Result screens: the centre's results of a session (score, correct a key, release), the history of a
result, review requests (复核), and a candidate's own result page. Thin: parse, authorise, call, render.

URL table (centre staff: their own centre's sittings, organisations/scope.py):
  GET  /results/sessions/<session_id>              results of a sitting              centre_staff
  POST /results/sessions/<session_id>/score        score the whole sitting (a job)    centre_staff
  POST /results/sessions/<session_id>/correct-key  key correction (preview or apply)   centre_staff
  POST /results/sessions/<session_id>/release      release the results (a job)        centre_staff
  GET  /results/<result_id>/history                a result and what it superseded    centre_staff
  GET  /results/reviews                            review requests                    centre_staff
  POST /results/reviews/<review_id>                rescore / regrade / reject         centre_staff
  GET  /results/mine                               the candidate's released results   candidate
  POST /results/mine/review                        ask for a review                   candidate
  GET  /results/mine/report/<level>.pdf            the candidate's score report PDF   candidate
  GET  /results/candidates/<cid>/report/<level>.pdf  a candidate's score report PDF   centre_staff
  POST /results/sessions/<session_id>/score-reports  the sitting's reports (a job)      centre_staff

A refused action (ResultsError) returns to its page (`BACK`) with the message flashed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import candidate_required, role_required
from exam_server.core.errors import refusal_response
from exam_server.extensions import db
from exam_server.jobs import submit_job
from exam_server.organisations.scope import current_scope
from exam_server.results import jobs as results_jobs
from exam_server.results import queries
from exam_server.results.corrections import correct_key as correct_key_of
from exam_server.results.errors import ResultsError
from exam_server.results.models import (
    REVIEW_DONE,
    REVIEW_REGRADING,
    REVIEW_REJECTED,
    REVIEW_SUBMITTED,
    Result,
    ReviewRequest,
)
from exam_server.results.release import release_blockers, release_candidates
from exam_server.results.review_requests import (
    decide_review,
    request_review,
    review_deadline,
    review_open,
    review_window_days,
)
from exam_server.results.score_report import report_for, score_reports_pdf
from exam_server.sessions.models import ExamSession, Ticket
from exam_server.sessions.sites import check_sitting
from scoring.results import PART_NAMES

blueprint = Blueprint("results", __name__, url_prefix="/results")

REVIEW_LABELS = {
    REVIEW_SUBMITTED: "已提交，待处理",
    REVIEW_REGRADING: "重新评阅中",
    REVIEW_DONE: "已完成",
    REVIEW_REJECTED: "未受理",
}
LEVEL_NAMES = {5: "初级保安员（五级）", 4: "中级保安员（四级）", 3: "高级保安员（三级）", 2: "保安师（二级）",
               1: "高级保安师（一级）"}

@blueprint.app_context_processor
def _names() -> dict[str, object]:
    return {"part_names": PART_NAMES, "level_names": LEVEL_NAMES, "review_labels": REVIEW_LABELS}


def _exam_session(session_id: int) -> ExamSession:
    """A sitting of the account's centre (404 if none, 403 if another centre's)."""
    exam_session = db.session.get(ExamSession, session_id) or abort(404)
    check_sitting(current_scope(), exam_session)
    return exam_session


def _to_session(session_id: int, **_: Any) -> str:
    return url_for("results.session_results", session_id=session_id)


# Where a refused action returns to, by endpoint, with the message flashed.
BACK: dict[str, Callable[..., str]] = {
    "results.score": _to_session,
    "results.correct_key": _to_session,
    "results.release": _to_session,
    "results.decide": lambda **_: url_for("results.reviews"),
    "results.ask_review": lambda **_: url_for("results.mine"),
}


@blueprint.errorhandler(ResultsError)
def _refused(exc: ResultsError) -> ResponseReturnValue:
    back = BACK.get(request.endpoint or "")
    if back is None:
        return refusal_response(exc.code, exc.message, exc.status)
    flash(exc.message)
    return redirect(back(**(request.view_args or {})))


def _number(raw: str, refusal: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ResultsError(refusal) from None


# ---------------------------------------------------------------- centre staff


@blueprint.get("/sessions/<int:session_id>")
@role_required("centre_staff")
def session_results(session_id: int) -> str:
    exam_session = _exam_session(session_id)
    page = queries.sitting_results(db.session, exam_session)
    return render_template(
        "results/session.html", exam_session=exam_session, tickets=page.tickets, by_candidate=page.by_candidate,
        sat=page.sat, outcomes=page.outcomes, corrections=page.corrections, provisional=page.provisional,
        parts=page.parts, attendance=page.attendance, forced=page.forced, released=page.released,
        blockers=page.blockers, exempted=page.exempted, states=page.states,
        versions=queries.version_labels(db.session, [v for c in page.corrections
                                                     for v in (c.old_version_id, c.new_version_id)]),
    )


@blueprint.post("/sessions/<int:session_id>/score")
@role_required("centre_staff")
def score(session_id: int) -> WerkzeugResponse:
    _exam_session(session_id)
    job = submit_job(results_jobs.SCORE, {"session_id": session_id}, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.post("/sessions/<int:session_id>/correct-key")
@role_required("centre_staff")
def correct_key(session_id: int) -> str:
    exam_session = _exam_session(session_id)
    preview = request.form.get("apply") != "1"
    raw_version = request.form.get("new_version", "").strip()
    version_no = _number(raw_version, "版本号应为数字") if raw_version else None
    report = correct_key_of(db.session, exam_session, request.form.get("item", ""), current_user.actor,
                            request.form.get("reason", ""), new_version_no=version_no, dry_run=preview)
    return render_template("results/correction.html", exam_session=exam_session, report=report, preview=preview,
                           names=queries.candidate_names_by_attempt(db.session, session_id), form=request.form)


@blueprint.post("/sessions/<int:session_id>/release")
@role_required("centre_staff")
def release(session_id: int) -> WerkzeugResponse:
    """Release the whole sitting, or (``partial=1``) the listed tickets with a reason. What is still open is
    refused here, listed, before a job is made; the job checks again as it releases."""
    exam_session = _exam_session(session_id)
    payload: dict[str, Any] = {"session_id": session_id}
    candidate_ids = None
    if request.form.get("partial") == "1":
        tickets = [t for t in re.split(r"[\s,，、;；]+", request.form.get("tickets", "")) if t]
        reason = request.form.get("reason", "").strip()
        if not reason:
            raise ResultsError("部分发布成绩必须填写原因")
        if not tickets:
            raise ResultsError("部分发布须列出考生的准考证号")
        candidate_ids = list(release_candidates(db.session, exam_session, tickets))
        payload.update(tickets=tickets, reason=reason)
    blockers = release_blockers(db.session, exam_session, candidate_ids)
    if blockers:
        raise ResultsError("还不能发布成绩：" + "；".join(blockers.lines()))
    job = submit_job(results_jobs.RELEASE, payload, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.get("/<int:result_id>/history")
@role_required("centre_staff")
def history(result_id: int) -> str:
    result = db.session.get(Result, result_id) or abort(404)
    _exam_session(result.session_id)
    chain = queries.result_history(db.session, result)
    events, reviews = queries.history_events(db.session, chain)
    return render_template("results/history.html", result=result, chain=chain, events=events, reviews=reviews)


@blueprint.get("/reviews")
@role_required("centre_staff")
def reviews() -> str:
    sittings = current_scope().centre_clause(ExamSession.centre_id)
    return render_template("results/reviews.html", rows=queries.recent_reviews(db.session, sittings=sittings))


@blueprint.post("/reviews/<int:review_id>")
@role_required("centre_staff")
def decide(review_id: int) -> WerkzeugResponse:
    review_of = db.session.get(ReviewRequest, review_id)
    if review_of is not None:  # an unknown one is decide_review's to refuse
        _exam_session(review_of.result.session_id)
    review = decide_review(db.session, review_id, request.form.get("action", ""), current_user.actor,
                           request.form.get("note", ""))
    flash(f"复核申请 #{review.id}：{REVIEW_LABELS.get(review.status, review.status)}")
    return redirect(url_for("results.reviews"))


# ---------------------------------------------------------------- the candidate


@blueprint.get("/mine")
@candidate_required
def mine() -> str:
    candidate_id = current_user.candidate_id
    requests = queries.reviews_of(db.session, candidate_id)
    return render_template(
        "results/mine.html", levels=queries.candidate_levels(db.session, candidate_id, released_only=True),
        sat=queries.sat_scores(db.session, candidate_id, released_only=True), requests=requests,
        open_for={r.result_id for r in requests if r.status in queries.OPEN_REVIEW_STATUSES},
        outcomes={r.outcome_result_id: r for r in requests if r.outcome_result_id},
        candidate=current_user.ticket.candidate, review_deadline=review_deadline, review_open=review_open,
        review_days=review_window_days(),
    )


@blueprint.post("/mine/review")
@candidate_required
def ask_review() -> WerkzeugResponse:
    result_id = _number(request.form.get("result_id", "0"), "成绩无效")
    request_review(db.session, current_user.candidate_id, result_id, request.form.get("reason", ""),
                   current_user.actor)
    flash("复核申请已提交，鉴定中心处理后会在本页显示结果。")
    return redirect(url_for("results.mine"))


@blueprint.get("/mine/report/<int:level>.pdf")
@candidate_required
def my_report(level: int) -> Response:
    """The candidate's own score report, once released (report_for refuses otherwise)."""
    return _report_pdf(current_user.candidate_id, level)


# ---------------------------------------------------------------- score reports (成绩单)


def _report_pdf(candidate_id: int, level: int) -> Response:
    data = score_reports_pdf([report_for(db.session, candidate_id, level)])
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename=score-report-{candidate_id}-{level}.pdf"})


@blueprint.get("/candidates/<int:candidate_id>/report/<int:level>.pdf")
@role_required("centre_staff")
def candidate_report(candidate_id: int, level: int) -> Response:
    """A candidate's score report for centre staff: the candidate must hold a ticket of one of their sittings."""
    sitting_ids = list(db.session.scalars(select(Ticket.session_id).where(Ticket.candidate_id == candidate_id)))
    if not sitting_ids:
        abort(404)
    scope = current_scope()
    allowed = db.session.scalar(select(ExamSession.id).where(ExamSession.id.in_(sitting_ids),
                                                             scope.centre_clause(ExamSession.centre_id)).limit(1))
    if allowed is None:
        abort(403)
    return _report_pdf(candidate_id, level)


@blueprint.post("/sessions/<int:session_id>/score-reports")
@role_required("centre_staff")
def score_reports(session_id: int) -> WerkzeugResponse:
    _exam_session(session_id)
    job = submit_job(results_jobs.REPORTS, {"session_id": session_id}, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))
