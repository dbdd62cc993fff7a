"""Item-analysis screens (试题分析): the whole URL table of the analysis in one place.

  /analysis/                                           sittings with submitted attempts
  /analysis/sessions/<sid>                             the sitting: forms, flagged items, actions
  /analysis/sessions/<sid>/forms/<fid>                 one form: every item, distractors, plots
  /analysis/sessions/<sid>/forms/<fid>/items/<vid>     one item: statistics and its plots
  /analysis/sessions/<sid>/forms/<fid>/<plot>.png      histogram, information
  /analysis/sessions/<sid>/forms/<fid>/items/<vid>/<plot>.png   icc, distractors
  POST /analysis/sessions/<sid>/review                 send flagged items to the review queue
  POST /analysis/sessions/<sid>/accept                 store the estimates on the item versions (a job)
  POST /analysis/sessions/<sid>/export.xlsx            every table, one sheet each (a job: /jobs/<id>)

`?model=rasch|2pl|3pl` chooses the IRT model (the app's ITEM_ANALYSIS_MODEL by default).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.analysis import jobs as analysis_jobs
from exam_server.analysis import plots, queries
from exam_server.analysis.compute import (
    FormAnalysis,
    SessionAnalysis,
    analyse_session,
    form_summary,
)
from exam_server.analysis.errors import AnalysisError
from exam_server.analysis.operations import estimate_eligibility, send_to_review
from exam_server.analysis.settings import MODEL_LABELS, MODELS, AnalysisSettings
from exam_server.core.auth import role_required
from exam_server.extensions import db
from exam_server.jobs import submit_job
from exam_server.sessions.models import ExamSession
from item_bank.review import Reviewer
from item_bank.types import short_labels

blueprint = Blueprint("analysis", __name__, url_prefix="/analysis")

VIEW_ROLES = ("bank_manager", "centre_staff")
ACT_ROLES = ("bank_manager",)


@blueprint.errorhandler(AnalysisError)
def _refused(exc: AnalysisError) -> tuple[str, int]:
    return render_template("analysis/refused.html", message=str(exc)), 409


def _model() -> str | None:
    model = request.values.get("model", "").lower()
    return model if model in MODELS else None


def _settings() -> AnalysisSettings:
    return AnalysisSettings.from_config(current_app.config, model=_model())


def _exam_session(session_id: int) -> ExamSession:
    return db.session.get(ExamSession, session_id) or abort(404)


def _analysis(session_id: int) -> SessionAnalysis:
    return analyse_session(db.session, _exam_session(session_id), _settings())


def _form(analysis: SessionAnalysis, form_id: int) -> FormAnalysis:
    try:
        return analysis.form(form_id)
    except AnalysisError:
        abort(404)


def _link(endpoint: str, **values: Any) -> str | None:
    """A URL into another domain's screens, or None where that domain is not installed."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _png(analysis: SessionAnalysis, key: tuple[Any, ...], draw: Any) -> WerkzeugResponse:
    data = analysis.png.get(key)
    if data is None:
        data = analysis.png[key] = draw()
    response = current_app.response_class(data, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _common(analysis: SessionAnalysis) -> dict[str, Any]:
    model = analysis.settings.model
    return {
        "analysis": analysis,
        "model": model,
        "models": [(m, MODEL_LABELS[m]) for m in MODELS],
        "model_label": MODEL_LABELS[model],
        "type_labels": short_labels(),
        "can_act": current_user.has_role(*ACT_ROLES),
        "review_queue_url": _link("bank.review_queue"),
        "fmt": _fmt,
        "pct": _pct,
    }


def _fmt(x: Any, digits: int = 2) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return ""
    return "—" if not np.isfinite(value) else f"{value:.{digits}f}"


def _pct(x: Any) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return ""
    return "—" if not np.isfinite(value) else f"{value:.0%}"


# ---------------------------------------------------------------- pages


@blueprint.get("/")
@role_required(*VIEW_ROLES)
def index() -> str:
    sessions, counts = queries.sittings_with_answers(db.session)
    return render_template("analysis/index.html", sessions=sessions, counts=counts)


@blueprint.get("/sessions/<int:session_id>")
@role_required(*VIEW_ROLES)
def session_page(session_id: int) -> str:
    analysis = _analysis(session_id)
    eligibility = estimate_eligibility(analysis)
    names = {it.version_id: it.external_id for f in analysis.forms for it in f.data.items}
    return render_template(
        "analysis/session.html",
        entries=queries.flagged_entries(analysis),
        summary=form_summary(analysis).to_dict("records"),
        bank=queries.bank_state(db.session, analysis.flagged_version_ids()),
        eligible=sum(1 for _, _, why in eligibility if why is None),
        not_eligible=[(names.get(vid, vid), why) for vid, _, why in eligibility if why is not None],
        stored=queries.estimates_stored(db.session, analysis.exam_session_id),
        names=names,
        **_common(analysis),
    )


@blueprint.get("/sessions/<int:session_id>/forms/<int:form_id>")
@role_required(*VIEW_ROLES)
def form_page(session_id: int, form_id: int) -> str:
    analysis = _analysis(session_id)
    form = _form(analysis, form_id)
    summary = next(r for r in form_summary(analysis).to_dict("records") if r["form_id"] == form_id)
    return render_template(
        "analysis/form.html",
        form=form,
        rows=form.table.to_dict("records"),
        distractors=form.ctt.distractors.to_dict("records"),
        positions={it.version_id: it for it in form.data.items},
        summary=summary,
        **_common(analysis),
    )


@blueprint.get("/sessions/<int:session_id>/forms/<int:form_id>/items/<int:version_id>")
@role_required(*VIEW_ROLES)
def item_page(session_id: int, form_id: int, version_id: int) -> str:
    analysis = _analysis(session_id)
    form = _form(analysis, form_id)
    try:
        item = form.item(version_id)
    except AnalysisError:
        abort(404)
    version, external_id = queries.item_in_bank(db.session, item)
    return render_template(
        "analysis/item.html",
        form=form,
        item=item,
        version=version,
        options=list(version.options) if version is not None else [],
        row=next(r for r in form.table.to_dict("records") if r["version_id"] == version_id),
        distractors=queries.option_rows(form, item),
        flags=form.ctt.flags[form.ctt.flags["item"] == version_id].to_dict("records"),
        bank=queries.bank_state(db.session, [version_id]).get(version_id),
        bank_url=_link("bank.item_detail", external_id=external_id),
        **_common(analysis),
    )


# ---------------------------------------------------------------- plots


@blueprint.get("/sessions/<int:session_id>/forms/<int:form_id>/<any(histogram, information):plot>.png")
@role_required(*VIEW_ROLES)
def form_png(session_id: int, form_id: int, plot: str) -> WerkzeugResponse:
    analysis = _analysis(session_id)
    form = _form(analysis, form_id)
    if plot == "information" and not analysis.irt.fitted:
        abort(404)
    draw = plots.form_histogram if plot == "histogram" else plots.form_information
    return _png(analysis, (plot, form_id), lambda: draw(analysis, form))


@blueprint.get(
    "/sessions/<int:session_id>/forms/<int:form_id>/items/<int:version_id>/<any(icc, distractors):plot>.png"
)
@role_required(*VIEW_ROLES)
def item_png(session_id: int, form_id: int, version_id: int, plot: str) -> WerkzeugResponse:
    analysis = _analysis(session_id)
    form = _form(analysis, form_id)
    if version_id not in {it.version_id for it in form.data.items}:
        abort(404)
    if plot == "icc":
        return _png(analysis, (plot, form_id, version_id), lambda: plots.item_icc(analysis, form, version_id))
    return _png(analysis, (plot, form_id, version_id), lambda: plots.item_distractors(form, version_id))


# ---------------------------------------------------------------- actions


def _back(session_id: int) -> WerkzeugResponse:
    model = _model()
    return redirect(
        url_for("analysis.session_page", session_id=session_id, **({"model": model} if model else {}))
    )


@blueprint.post("/sessions/<int:session_id>/review")
@role_required(*ACT_ROLES)
def review(session_id: int) -> WerkzeugResponse:
    analysis = _analysis(session_id)
    ids = [int(v) for v in request.form.getlist("version_id") if v.isdigit()]
    if not ids:
        flash("请先勾选要送审的试题。")
        return _back(session_id)
    user = current_user.user
    who = Reviewer(current_user.actor, user.id, frozenset(user.roles or []))
    report = send_to_review(db.session, analysis, who, ids)
    for line in report.lines():
        flash(line.strip())
    return _back(session_id)


def _submit(kind: str, session_id: int) -> WerkzeugResponse:
    """Hand work that computes the analysis to the worker; its page shows the progress and the outcome."""
    _exam_session(session_id)
    job = submit_job(kind, {"session_id": session_id, "model": _model()}, current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.post("/sessions/<int:session_id>/accept")
@role_required(*ACT_ROLES)
def accept(session_id: int) -> WerkzeugResponse:
    return _submit(analysis_jobs.ACCEPT, session_id)


@blueprint.post("/sessions/<int:session_id>/export.xlsx")
@role_required(*VIEW_ROLES)
def export(session_id: int) -> WerkzeugResponse:
    return _submit(analysis_jobs.EXPORT, session_id)
