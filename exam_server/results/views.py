"""Result screens: the centre's results of a session (score, correct a key, release), the history of a
result, review requests (复核), and a candidate's own result page. Thin: parse, authorise, call, render.

URL table:
  GET  /results/sessions/<session_id>              results of a sitting              centre_staff
  POST /results/sessions/<session_id>/score        score the whole sitting            centre_staff
  POST /results/sessions/<session_id>/correct-key  key correction (preview or apply)   centre_staff
  POST /results/sessions/<session_id>/release      release the sitting's results      centre_staff
  GET  /results/<result_id>/history                a result and what it superseded    centre_staff
  GET  /results/reviews                            review requests                    centre_staff
  POST /results/reviews/<review_id>                rescore / regrade / reject         centre_staff
  GET  /results/mine                               the candidate's released results   candidate
  POST /results/mine/review                        ask for a review                   candidate
"""

from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import candidate_required, role_required
from exam_server.extensions import db
from exam_server.results import operations as ops
from exam_server.results.models import (
    REVIEW_DONE,
    REVIEW_REGRADING,
    REVIEW_REJECTED,
    REVIEW_SUBMITTED,
    KeyCorrection,
    Result,
    ReviewRequest,
)
from exam_server.sessions.models import Candidate, ExamSession, Ticket
from item_bank.audit import AuditEvent
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
    exam_session = db.session.get(ExamSession, session_id)
    if exam_session is None:
        abort(404)
    return exam_session


# ---------------------------------------------------------------- centre staff


@blueprint.get("/sessions/<int:session_id>")
@role_required("centre_staff")
def session_results(session_id: int) -> str:
    exam_session = _exam_session(session_id)
    tickets = db.session.scalars(select(Ticket).where(Ticket.session_id == session_id).order_by(Ticket.number)).all()
    by_candidate: dict[int, dict[str, Result]] = defaultdict(dict)
    sat: dict[int, dict[str, Result]] = defaultdict(dict)
    for r in ops.session_results(db.session, session_id):
        have = by_candidate[r.candidate_id].get(r.part)
        # An exemption and a sat paper can both be current for level-5 theory: the exemption counts,
        # the sat score is shown beside it.
        if have is None or (r.exempt, r.id) > (have.exempt, have.id):
            by_candidate[r.candidate_id][r.part] = r
        if not r.exempt:
            sat[r.candidate_id][r.part] = r
    outcomes = {
        t.candidate_id: next((v for v in ops.candidate_levels(db.session, t.candidate_id, released_only=False)
                              if v.level == exam_session.level), None)
        for t in tickets
    }
    corrections = db.session.scalars(
        select(KeyCorrection).where(KeyCorrection.session_id == session_id).order_by(KeyCorrection.id)
    ).all()
    provisional = sum(1 for parts in by_candidate.values() for r in parts.values() if r.status != "released")
    return render_template(
        "results/session.html", exam_session=exam_session, tickets=tickets, by_candidate=by_candidate, sat=sat,
        outcomes=outcomes, corrections=corrections, provisional=provisional,
        parts=[p for p in ("theory", "skill", "written", "defence") if
               any(p in parts for parts in by_candidate.values()) or p == exam_session.part],
    )


@blueprint.post("/sessions/<int:session_id>/score")
@role_required("centre_staff")
def score(session_id: int) -> WerkzeugResponse:
    exam_session = _exam_session(session_id)
    try:
        report = ops.score_session(db.session, exam_session, current_user.actor)
    except ops.ResultsError as exc:
        db.session.rollback()
        flash(str(exc))
    else:
        for line in report.lines()[:30]:
            flash(line)
    return redirect(url_for("results.session_results", session_id=session_id))


@blueprint.post("/sessions/<int:session_id>/correct-key")
@role_required("centre_staff")
def correct_key(session_id: int) -> str | WerkzeugResponse | tuple[str, int]:
    exam_session = _exam_session(session_id)
    preview = request.form.get("apply") != "1"
    raw_version = request.form.get("new_version", "").strip()
    try:
        version_no = int(raw_version) if raw_version else None
        report = ops.correct_key(db.session, exam_session, request.form.get("item", ""), current_user.actor,
                                 request.form.get("reason", ""), new_version_no=version_no, dry_run=preview)
    except ValueError:
        flash("版本号应为数字")
        return redirect(url_for("results.session_results", session_id=session_id))
    except ops.ResultsError as exc:
        db.session.rollback()
        flash(str(exc))
        return redirect(url_for("results.session_results", session_id=session_id))
    names = {
        a_id: name for a_id, name in db.session.execute(
            select(Result.attempt_id, Candidate.name).join(Candidate, Candidate.id == Result.candidate_id)
            .where(Result.session_id == session_id, Result.attempt_id.is_not(None))
        )
    }
    return render_template("results/correction.html", exam_session=exam_session, report=report, preview=preview,
                           names=names, form=request.form)


@blueprint.post("/sessions/<int:session_id>/release")
@role_required("centre_staff")
def release(session_id: int) -> WerkzeugResponse:
    _exam_session(session_id)
    n = ops.release_results(db.session, session_id, current_user.actor)
    flash(f"已发布 {n} 条成绩，考生登录后可以查看。")
    return redirect(url_for("results.session_results", session_id=session_id))


@blueprint.get("/<int:result_id>/history")
@role_required("centre_staff")
def history(result_id: int) -> str:
    result = db.session.get(Result, result_id)
    if result is None:
        abort(404)
    chain = ops.result_history(db.session, result)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity == "result", AuditEvent.entity_id.in_([str(r.id) for r in chain]))
        .order_by(AuditEvent.id)
    ).all()
    reviews = db.session.scalars(
        select(ReviewRequest).where(ReviewRequest.result_id.in_([r.id for r in chain])).order_by(ReviewRequest.id)
    ).all()
    return render_template("results/history.html", result=result, chain=chain, events=events, reviews=reviews)


@blueprint.get("/reviews")
@role_required("centre_staff")
def reviews() -> str:
    rows = db.session.scalars(select(ReviewRequest).order_by(ReviewRequest.id.desc()).limit(200)).all()
    return render_template("results/reviews.html", rows=rows)


@blueprint.post("/reviews/<int:review_id>")
@role_required("centre_staff")
def decide(review_id: int) -> WerkzeugResponse:
    try:
        review = ops.decide_review(db.session, review_id, request.form.get("action", ""), current_user.actor,
                                   request.form.get("note", ""))
    except ops.ResultsError as exc:
        db.session.rollback()
        flash(str(exc))
    else:
        flash(f"复核申请 #{review.id}：{REVIEW_LABELS.get(review.status, review.status)}")
    return redirect(url_for("results.reviews"))


# ---------------------------------------------------------------- the candidate


@blueprint.get("/mine")
@candidate_required
def mine() -> str:
    candidate_id = current_user.candidate_id
    levels = ops.candidate_levels(db.session, candidate_id, released_only=True)
    sat = ops.sat_scores(db.session, candidate_id, released_only=True)
    requests = db.session.scalars(
        select(ReviewRequest).where(ReviewRequest.candidate_id == candidate_id).order_by(ReviewRequest.id.desc())
    ).all()
    open_for = {r.result_id for r in requests if r.status in (REVIEW_SUBMITTED, REVIEW_REGRADING)}
    outcomes = {r.outcome_result_id: r for r in requests if r.outcome_result_id}
    return render_template("results/mine.html", levels=levels, sat=sat, requests=requests, open_for=open_for,
                           outcomes=outcomes, candidate=current_user.ticket.candidate)


@blueprint.post("/mine/review")
@candidate_required
def ask_review() -> WerkzeugResponse | tuple[str, int]:
    try:
        result_id = int(request.form.get("result_id", "0"))
        ops.request_review(db.session, current_user.candidate_id, result_id, request.form.get("reason", ""),
                           current_user.actor)
    except ValueError:
        flash("成绩无效")
    except ops.ResultsError as exc:
        db.session.rollback()
        flash(str(exc))
    else:
        flash("复核申请已提交，鉴定中心处理后会在本页显示结果。")
    return redirect(url_for("results.mine"))
