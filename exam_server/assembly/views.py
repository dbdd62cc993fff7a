"""Blueprints, assembly and form review screens (组卷): the whole URL table of the domain in one place.

/assembly/blueprints                       list, import a YAML/JSON file
/assembly/blueprints/new                   editor (GET form, POST save)
/assembly/blueprints/<id>                  detail: spec, bank supply per area × type, assemble, forms
/assembly/blueprints/<id>/edit             editor
/assembly/blueprints/<id>/text             edit as YAML/JSON text
/assembly/blueprints/<id>/export.<fmt>     download (yaml | json)
/assembly/blueprints/<id>/assemble   POST  build N parallel forms (a job: /jobs/<id>)
/assembly/forms                            list of forms
/assembly/forms/<id>                       review: composition, difficulty, information, overlap, enemies
/assembly/forms/<id>/plot.png              information curves and difficulty (matplotlib)
/assembly/forms/<id>/order?seed=           one candidate's item and option order, reproduced
/assembly/forms/<id>/<action>        POST  approve | return | lock | retire

Views parse, authorise, call `exam_server.assembly.operations` (the writes, which `examctl` shares) or
`queries` (the reads), and render; they never commit.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.assembly import jobs as assembly_jobs
from exam_server.assembly import operations as ops
from exam_server.assembly import queries
from exam_server.assembly.editor import (
    DEFAULT_SECTIONS,
    draft_spec,
    editor_rows,
    language_problems,
    new_spec,
    spec_data_from_form,
)
from exam_server.assembly.plots import review_png
from exam_server.assembly.report import objective_words
from exam_server.core.auth import role_required
from exam_server.extensions import db
from exam_server.jobs import submit_job
from item_bank.assembly import AssemblyError
from item_bank.blueprints import (
    LEVELS,
    PART_LABELS,
    SCORING_RULES,
    TYPE_LABELS,
    BlueprintError,
    BlueprintSpec,
    SpecProblem,
    dumps_spec,
    loads_spec,
    spec_of,
)
from item_bank.form_review import review_form
from item_bank.forms import ACTION_LABELS, FORM_ACTIONS, STATUS_LABELS, FormStateError
from item_bank.models import Blueprint as BlueprintRow
from item_bank.models import Form

blueprint = Blueprint("assembly", __name__, url_prefix="/assembly")

MANAGERS = ("bank_manager",)
RULE_LABELS = {"exact": "按题计分", "all_or_nothing": "全对得分", "partial": "部分得分"}


@blueprint.context_processor
def _labels() -> dict[str, Any]:
    return {
        "TYPE_LABELS": TYPE_LABELS,
        "PART_LABELS": PART_LABELS,
        "RULE_LABELS": RULE_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "ACTION_LABELS": ACTION_LABELS,
        "objective_words": objective_words,
        "has_bank": "bank.items" in current_app.view_functions,
    }


def _actor() -> str:
    return str(current_user.actor)


def _found(row: Any) -> Any:
    if row is None:
        abort(404)
    return row


def _blueprint_or_404(bp_id: int) -> BlueprintRow:
    return _found(db.session.get(BlueprintRow, bp_id))


def _form_or_404(form_id: int) -> Form:
    return _found(db.session.get(Form, form_id))


# ----- blueprints -----


def _blueprint_list(status: int = 200, **context: Any) -> tuple[str, int]:
    rows, specs = queries.blueprints_with_specs(db.session)
    counts = queries.form_counts(db.session)
    return render_template(
        "assembly/blueprints.html", rows=rows, specs=specs, counts=counts, **context
    ), status


@blueprint.get("/blueprints")
@role_required(*MANAGERS)
def blueprints() -> tuple[str, int]:
    return _blueprint_list()


@blueprint.post("/blueprints/import")
@role_required(*MANAGERS)
def import_blueprint() -> WerkzeugResponse | tuple[str, int]:
    upload = request.files.get("file")
    text = upload.read().decode("utf-8-sig") if upload and upload.filename else request.form.get("text", "")
    source = upload.filename if upload and upload.filename else "粘贴的文本"
    try:
        bp = ops.import_blueprint(db.session, text, source or "", _actor())
    except BlueprintError as exc:
        return _blueprint_list(400, problems=exc.problems, import_text=text)
    flash(f"已导入蓝图「{bp.name}」")
    return redirect(url_for("assembly.blueprint_detail", bp_id=bp.id))


def _editor(
    spec: BlueprintSpec | None,
    bp: BlueprintRow | None,
    problems: list[SpecProblem] | None = None,
    values: Any = None,
    status: int = 200,
) -> tuple[str, int]:
    """The structured editor, filled from a spec (or the posted values when they had problems)."""
    if spec is None:
        level = request.args.get("level", "5")
        spec = new_spec(db.session, int(level) if str(level).isdigit() else 5)
        sections = DEFAULT_SECTIONS
    else:
        sections = [s.__dict__ for s in spec.sections]
    return render_template(
        "assembly/editor.html",
        spec=spec,
        bp=bp,
        problems=problems or [],
        problem_fields={p.field.split("[")[0].split(".")[0] for p in problems or []},
        values=values,
        LEVELS=LEVELS,
        PARTS=list(PART_LABELS),
        SCORING_RULES=SCORING_RULES,
        **editor_rows(db.session, spec, sections),
    ), status


def _save(bp: BlueprintRow | None) -> WerkzeugResponse | tuple[str, int]:
    data = spec_data_from_form(request.form)
    bad_text = language_problems(request.form)
    if bad_text:
        return _editor(draft_spec(data), bp, bad_text, request.form, 400)
    try:
        bp = ops.save_blueprint(db.session, bp, BlueprintSpec.from_dict(data, "蓝图"), _actor())
    except BlueprintError as exc:
        return _editor(draft_spec(data), bp, exc.problems, request.form, 400)
    flash(f"蓝图「{bp.name}」已保存")
    return redirect(url_for("assembly.blueprint_detail", bp_id=bp.id))


@blueprint.route("/blueprints/new", methods=["GET", "POST"])
@role_required(*MANAGERS)
def new_blueprint() -> WerkzeugResponse | tuple[str, int]:
    if request.method == "POST":
        return _save(None)
    return _editor(None, None)


@blueprint.route("/blueprints/<int:bp_id>/edit", methods=["GET", "POST"])
@role_required(*MANAGERS)
def edit_blueprint(bp_id: int) -> WerkzeugResponse | tuple[str, int]:
    bp = _blueprint_or_404(bp_id)
    if request.method == "POST":
        return _save(bp)
    return _editor(spec_of(bp), bp)


@blueprint.route("/blueprints/<int:bp_id>/text", methods=["GET", "POST"])
@role_required(*MANAGERS)
def edit_blueprint_text(bp_id: int) -> WerkzeugResponse | tuple[str, int]:
    bp = _blueprint_or_404(bp_id)
    problems: list[SpecProblem] = []
    text = dumps_spec(spec_of(bp))
    if request.method == "POST":
        text = request.form.get("text", "")
        try:
            ops.save_blueprint(db.session, bp, loads_spec(text, "蓝图文本"), _actor())
        except BlueprintError as exc:
            problems = exc.problems
        else:
            flash(f"蓝图「{bp.name}」已保存")
            return redirect(url_for("assembly.blueprint_detail", bp_id=bp.id))
    return render_template(
        "assembly/text.html", bp=bp, text=text, problems=problems
    ), 400 if problems else 200


@blueprint.get("/blueprints/<int:bp_id>/export.<fmt>")
@role_required(*MANAGERS)
def export_blueprint(bp_id: int, fmt: str) -> Response:
    if fmt not in ("yaml", "json"):
        abort(404)
    bp = _blueprint_or_404(bp_id)
    body = dumps_spec(spec_of(bp), fmt)
    mime = "application/json" if fmt == "json" else "application/x-yaml"
    response = Response(body, mimetype=mime)
    response.headers["Content-Disposition"] = f"attachment; filename=blueprint-{bp.id}.{fmt}"
    return response


def _detail(bp: BlueprintRow, infeasible: AssemblyError | None = None, n_forms: int = 1) -> str:
    spec = spec_of(bp)
    return render_template(
        "assembly/blueprint.html",
        bp=bp,
        spec=spec,
        supply=queries.supply_table(db.session, spec),
        groups=queries.form_groups(db.session, bp),
        infeasible=infeasible,
        n_forms=n_forms,
    )


@blueprint.get("/blueprints/<int:bp_id>")
@role_required(*MANAGERS)
def blueprint_detail(bp_id: int) -> str:
    return _detail(_blueprint_or_404(bp_id))


@blueprint.post("/blueprints/<int:bp_id>/assemble")
@role_required(*MANAGERS)
def assemble(bp_id: int) -> WerkzeugResponse | tuple[str, int]:
    bp = _blueprint_or_404(bp_id)
    try:
        n_forms = max(1, min(50, int(request.form.get("forms", 1))))
        time_limit = max(1.0, min(600.0, float(request.form.get("time_limit", 60))))
        # An empty seed field means a fresh seed (printed with the result, so the run can be repeated).
        raw_seed = (request.form.get("seed") or "").strip()
        seed = int(raw_seed) if raw_seed else None
    except ValueError:
        abort(400)
    shortfall = queries.certain_shortfall(db.session, bp, n_forms)
    if shortfall is not None:
        return _detail(bp, shortfall, n_forms), 422
    # The solve itself (up to time_limit seconds of HiGHS) runs in the worker.
    params = {
        "blueprint_id": bp.id,
        "n_forms": n_forms,
        "time_limit_s": time_limit,
        "seed": seed,
        "allow_identical": request.form.get("allow_identical") == "1",
    }
    job = submit_job(assembly_jobs.ASSEMBLE, params, _actor())
    return redirect(url_for("jobs.page", job_id=job.id))


# ----- forms -----


@blueprint.get("/forms")
@role_required(*MANAGERS)
def forms() -> str:
    rows, names = queries.all_forms(db.session)
    return render_template("assembly/forms.html", rows=rows, names=names)


@blueprint.get("/forms/<int:form_id>")
@role_required(*MANAGERS)
def form_review(form_id: int) -> str:
    form = _form_or_404(form_id)
    return render_template("assembly/review.html", form=form, review=review_form(db.session, form))


@blueprint.get("/forms/<int:form_id>/plot.png")
@role_required(*MANAGERS)
def form_plot(form_id: int) -> Response:
    form = _form_or_404(form_id)
    response = Response(review_png(review_form(db.session, form)), mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/forms/<int:form_id>/order")
@role_required(*MANAGERS)
def form_order(form_id: int) -> str:
    form = _form_or_404(form_id)
    seed = request.args.get("seed", "0")
    return render_template(
        "assembly/order.html", form=form, seed=seed, rows=queries.order_rows(db.session, form, seed)
    )


@blueprint.post("/forms/<int:form_id>/<action>")
@role_required(*MANAGERS)
def form_action(form_id: int, action: str) -> WerkzeugResponse | tuple[str, int]:
    if action not in FORM_ACTIONS:
        abort(404)
    form = _form_or_404(form_id)
    reason = (request.form.get("reason") or "").strip()
    if action == "retire" and not reason:
        flash("停用试卷需要填写原因")
        return redirect(url_for("assembly.form_review", form_id=form.id))
    if action == "lock" and request.form.get("confirm") != "yes":
        flash("锁定试卷需要勾选确认：锁定后题目、答案和分值不能再改")
        return redirect(url_for("assembly.form_review", form_id=form.id))
    try:
        ops.form_action(db.session, form, action, _actor(), reason)
    except FormStateError as exc:
        review = review_form(db.session, form)
        return render_template("assembly/review.html", form=form, review=review, error=str(exc)), 409
    flash(f"试卷 {form.code} 已{ACTION_LABELS[action]}")
    return redirect(url_for("assembly.form_review", form_id=form.id))
