"""Blueprints, assembly and form review screens (组卷): the whole URL table of the domain in one place.

/assembly/blueprints                       list, import a YAML/JSON file
/assembly/blueprints/new                   editor (GET form, POST save)
/assembly/blueprints/<id>                  detail: spec, bank supply per area × type, assemble, forms
/assembly/blueprints/<id>/edit             editor
/assembly/blueprints/<id>/text             edit as YAML/JSON text
/assembly/blueprints/<id>/export.<fmt>     download (yaml | json)
/assembly/blueprints/<id>/assemble   POST  build N parallel forms
/assembly/forms                            list of forms
/assembly/forms/<id>                       review: composition, difficulty, information, overlap, enemies
/assembly/forms/<id>/plot.png              information curves and difficulty (matplotlib)
/assembly/forms/<id>/order?seed=           one candidate's item and option order, reproduced
/assembly/forms/<id>/<action>        POST  approve | return | lock | retire
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.assembly import AssemblyError, AssemblyInfeasible, assemble_forms, load_pool
from item_bank.assembly.pool import OTHER_AREA, REASON_LABELS
from item_bank.blueprints import (
    LEVELS,
    PART_LABELS,
    SCORING_RULES,
    SECTION_TYPES,
    TYPE_LABELS,
    BlueprintError,
    BlueprintSpec,
    SpecProblem,
    create_blueprint,
    dumps_spec,
    loads_spec,
    spec_of,
    update_blueprint,
    weight_table_shares,
)
from item_bank.forms import (
    STATUS_LABELS,
    FormStateError,
    approve_form,
    candidate_order,
    lock_form,
    retire_form,
    return_form,
    review_form,
)
from item_bank.models import Blueprint as BlueprintRow
from item_bank.models import Form, ItemVersion, KnowledgeArea

blueprint = Blueprint("assembly", __name__, url_prefix="/assembly")

MANAGERS = ("bank_manager",)
RULE_LABELS = {"exact": "按题计分", "all_or_nothing": "全对得分", "partial": "部分得分"}
ACTIONS = {"approve": approve_form, "return": return_form, "lock": lock_form, "retire": retire_form}
ACTION_LABELS = {"approve": "审核通过", "return": "退回重组", "lock": "锁定", "retire": "停用"}
DEFAULT_SECTIONS = [
    {
        "type": "judge",
        "count": 20,
        "points": 1.0,
        "scoring_rule": "exact",
        "title": "判断题",
        "shuffle_options": False,
    },
    {"type": "single", "count": 60, "points": 1.0, "scoring_rule": "exact", "title": "单选题"},
    {"type": "multiple", "count": 20, "points": 1.0, "scoring_rule": "all_or_nothing", "title": "多选题"},
]


def _actor() -> str:
    return str(current_user.actor)


def _blueprint_or_404(bp_id: int) -> BlueprintRow:
    bp = db.session.get(BlueprintRow, bp_id)
    if bp is None:
        abort(404)
    return bp


def _form_or_404(form_id: int) -> Form:
    form = db.session.get(Form, form_id)
    if form is None:
        abort(404)
    return form


def _common() -> dict[str, Any]:
    return {
        "TYPE_LABELS": TYPE_LABELS,
        "PART_LABELS": PART_LABELS,
        "RULE_LABELS": RULE_LABELS,
        "STATUS_LABELS": STATUS_LABELS,
        "ACTION_LABELS": ACTION_LABELS,
        "has_bank": "bank.items" in current_app.view_functions,
    }


# ----- blueprints -----


@blueprint.get("/blueprints")
@role_required(*MANAGERS)
def blueprints() -> str:
    rows = db.session.scalars(
        select(BlueprintRow).order_by(BlueprintRow.level.desc(), BlueprintRow.name)
    ).all()
    counts = dict(
        db.session.execute(select(Form.blueprint_id, func.count()).group_by(Form.blueprint_id)).all()
    )
    specs = {}
    for bp in rows:
        try:
            specs[bp.id] = spec_of(bp)
        except BlueprintError:
            specs[bp.id] = None
    return render_template("assembly/blueprints.html", rows=rows, specs=specs, counts=counts, **_common())


@blueprint.post("/blueprints/import")
@role_required(*MANAGERS)
def import_blueprint() -> WerkzeugResponse | tuple[str, int]:
    upload = request.files.get("file")
    text = upload.read().decode("utf-8-sig") if upload and upload.filename else request.form.get("text", "")
    source = upload.filename if upload and upload.filename else "粘贴的文本"
    try:
        spec = loads_spec(text, source or "")
        bp = create_blueprint(db.session, spec, _actor())
        db.session.commit()
    except BlueprintError as exc:
        db.session.rollback()
        rows = db.session.scalars(select(BlueprintRow).order_by(BlueprintRow.name)).all()
        specs = {b.id: spec_of(b) for b in rows}
        return render_template(
            "assembly/blueprints.html",
            rows=rows,
            specs=specs,
            counts={},
            problems=exc.problems,
            import_text=text,
            **_common(),
        ), 400
    flash(f"已导入蓝图「{bp.name}」")
    return redirect(url_for("assembly.blueprint_detail", bp_id=bp.id))


def _area_rows(level: int, part: str) -> list[dict[str, Any]]:
    """The knowledge tree of a level and part (and shared areas) in display order, with depth."""
    areas = db.session.scalars(
        select(KnowledgeArea).where(
            KnowledgeArea.part == part,
            (KnowledgeArea.level == level) | KnowledgeArea.level.is_(None),
            KnowledgeArea.merged_into_id.is_(None),
        )
    ).all()
    children: dict[int | None, list[KnowledgeArea]] = defaultdict(list)
    ids = {a.id for a in areas}
    for a in areas:
        children[a.parent_id if a.parent_id in ids else None].append(a)
    out: list[dict[str, Any]] = []

    def walk(parent: int | None, depth: int) -> None:
        for a in sorted(children.get(parent, []), key=lambda x: (x.position, x.code)):
            out.append({"area": a, "depth": depth, "leaf": not children.get(a.id)})
            walk(a.id, depth + 1)

    walk(None, 0)
    return out


def _editor(
    spec: BlueprintSpec | None,
    bp: BlueprintRow | None,
    problems: list[SpecProblem] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The structured editor, filled from a spec (or the posted values when they had problems)."""
    if spec is None:
        level = int(request.args.get("level", 5)) if str(request.args.get("level", "5")).isdigit() else 5
        shares = weight_table_shares(db.session, level, "theory")
        spec = BlueprintSpec(name="", level=level, part="theory", area_shares=shares)
        sections = DEFAULT_SECTIONS
    else:
        sections = [s.__dict__ for s in spec.sections]
    rows = _area_rows(spec.level, spec.part)
    share_of: dict[int, float] = {}
    for r in rows:
        a = r["area"]
        for key in (a.code, a.name):
            if key in spec.area_shares:
                share_of[a.id] = spec.area_shares[key]
    by_type = {s["type"]: s for s in sections}
    section_rows = []
    order = [s["type"] for s in sections] + [t for t in SECTION_TYPES if t not in by_type]
    for i, t in enumerate(order):
        s = by_type.get(t, {"type": t, "count": 0, "points": 1.0, "scoring_rule": "exact", "title": ""})
        section_rows.append({**{"shuffle_items": True, "shuffle_options": t != "judge"}, **s, "order": i + 1})
    fields = {p.field.split("[")[0].split(".")[0] for p in problems or []}
    return render_template(
        "assembly/editor.html",
        spec=spec,
        bp=bp,
        area_rows=rows,
        share_of=share_of,
        section_rows=section_rows,
        problems=problems or [],
        problem_fields=fields,
        values=values,
        LEVELS=LEVELS,
        PARTS=list(PART_LABELS),
        SCORING_RULES=SCORING_RULES,
        **_common(),
    ), status


def _number(form: Any, key: str, scale: float = 1.0) -> float | None:
    raw = (form.get(key) or "").strip()
    if raw == "":
        return None
    try:
        return float(raw) * scale
    except ValueError:
        return raw  # type: ignore[return-value]  # validation names the field


def spec_data_from_form(form: Any) -> dict[str, Any]:
    """The posted editor as a blueprint dict (percentages become shares); validation happens in the spec."""
    sections = []
    for i in range(len(SECTION_TYPES)):
        t = form.get(f"sec-{i}-type")
        count = _number(form, f"sec-{i}-count")
        if not t or not count:
            continue
        sections.append(
            {
                "type": t,
                "count": count,
                "points": _number(form, f"sec-{i}-points") or 1.0,
                "scoring_rule": form.get(f"sec-{i}-rule") or "exact",
                "title": (form.get(f"sec-{i}-title") or "").strip(),
                "shuffle_items": form.get(f"sec-{i}-shuffle_items") == "on",
                "shuffle_options": form.get(f"sec-{i}-shuffle_options") == "on",
                "_order": _number(form, f"sec-{i}-order") or i,
            }
        )
    sections.sort(key=lambda s: s["_order"] if isinstance(s["_order"], float) else 99)
    for s in sections:
        s.pop("_order")
    shares = {}
    for key in form:
        if key.startswith("area-") and (form.get(key) or "").strip():
            value = _number(form, key, 0.01)
            if value:
                shares[key[5:]] = value
    data: dict[str, Any] = {
        "name": (form.get("name") or "").strip(),
        "level": _number(form, "level"),
        "part": form.get("part") or "theory",
        "duration_min": _number(form, "duration_min"),
        "pass_mark": _number(form, "pass_mark"),
        "description": form.get("description") or "",
        "sections": sections,
        "area_shares": shares,
        "area_tolerance": _number(form, "area_tolerance", 0.01) if form.get("area_tolerance") else 0.03,
        "spread_types": form.get("spread_types") == "on",
        "item_sets_allowed": form.get("item_sets_allowed") == "on",
        "max_item_sets": _number(form, "max_item_sets"),
        "same_stem_enemies": form.get("same_stem_enemies") == "on",
        "enemy_groups": [
            line.replace("，", ",").replace(",", " ").split()
            for line in (form.get("enemy_groups") or "").splitlines()
            if line.strip()
        ],
        "max_overlap": _number(form, "max_overlap", 0.01) if form.get("max_overlap") else 0.1,
        "max_forms_per_item": _number(form, "max_forms_per_item"),
        "max_exposure": _number(form, "max_exposure"),
        "exclude_recent_sessions": _number(form, "exclude_recent_sessions") or 0,
    }
    p_min, p_max = _number(form, "p_min"), _number(form, "p_max")
    if p_min is not None or p_max is not None:
        data["difficulty"] = {
            "p_min": 0.0 if p_min is None else p_min,
            "p_max": 1.0 if p_max is None else p_max,
            "parallel_tolerance": _number(form, "p_parallel") if form.get("p_parallel") else 0.01,
        }
    thetas = (form.get("info_thetas") or "").replace("，", ",").strip()
    if thetas:
        data["information"] = {
            "thetas": [t for t in thetas.replace(",", " ").split()],
            "targets": (form.get("info_targets") or "").replace("，", ",").replace(",", " ").split(),
            "tolerance": _number(form, "info_tolerance", 0.01) if form.get("info_tolerance") else 0.1,
            "parallel_tolerance": _number(form, "info_parallel", 0.01) if form.get("info_parallel") else 0.02,
        }
    return data


def _save(bp: BlueprintRow | None) -> WerkzeugResponse | tuple[str, int]:
    data = spec_data_from_form(request.form)
    try:
        spec = BlueprintSpec.from_dict(data, "蓝图")
        if bp is None:
            bp = create_blueprint(db.session, spec, _actor())
        else:
            update_blueprint(db.session, bp, spec, _actor())
        db.session.commit()
    except BlueprintError as exc:
        db.session.rollback()
        draft = _draft_spec(data)
        return _editor(draft, bp, exc.problems, request.form, 400)
    flash(f"蓝图「{bp.name}」已保存")
    return redirect(url_for("assembly.blueprint_detail", bp_id=bp.id))


def _draft_spec(data: dict[str, Any]) -> BlueprintSpec:
    """A best-effort spec to redisplay a rejected form (the posted text is shown from `values`)."""
    level = data.get("level")
    return BlueprintSpec(
        name=str(data.get("name") or ""),
        level=int(level) if isinstance(level, float) and level in LEVELS else 5,
        part=data.get("part") if data.get("part") in PART_LABELS else "theory",
    )


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
            update_blueprint(db.session, bp, loads_spec(text, "蓝图文本"), _actor())
            db.session.commit()
        except BlueprintError as exc:
            db.session.rollback()
            problems = exc.problems
        else:
            flash(f"蓝图「{bp.name}」已保存")
            return redirect(url_for("assembly.blueprint_detail", bp_id=bp.id))
    return render_template("assembly/text.html", bp=bp, text=text, problems=problems), 400 if problems else 200


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


def supply_table(spec: BlueprintSpec) -> dict[str, Any]:
    """Approved, usable items per blueprint area × section type, and why others are excluded."""
    pool = load_pool(db.session, spec)
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for unit in pool.units:
        if unit.reason is None:
            for r in unit.records:
                table[r.area][r.type] += 1
    excluded = Counter(r.reason for r in pool.records if r.reason is not None)
    rows = []
    for key in [*spec.area_shares, *sorted(k for k in table if k not in spec.area_shares)]:
        rows.append(
            {
                "key": key,
                "name": pool.area_names.get(key, key if key != OTHER_AREA else "（其他）"),
                "share": spec.area_shares.get(key),
                "by_type": dict(table.get(key, {})),
            }
        )
    totals = Counter()
    for c in table.values():
        totals.update(c)
    return {
        "rows": rows,
        "totals": dict(totals),
        "unknown": pool.unknown_areas,
        "excluded": {REASON_LABELS.get(k, k): n for k, n in excluded.items()},
    }


@blueprint.get("/blueprints/<int:bp_id>")
@role_required(*MANAGERS)
def blueprint_detail(bp_id: int) -> str:
    bp = _blueprint_or_404(bp_id)
    return _detail(bp)


def _detail(bp: BlueprintRow, infeasible: AssemblyError | None = None, n_forms: int = 1) -> str:
    spec = spec_of(bp)
    forms = db.session.scalars(select(Form).where(Form.blueprint_id == bp.id).order_by(Form.id.desc())).all()
    groups: dict[str, list[Form]] = defaultdict(list)
    for f in forms:
        groups[f.assembly_group].append(f)
    for g in groups.values():
        g.sort(key=lambda f: f.code)
    return render_template(
        "assembly/blueprint.html",
        bp=bp,
        spec=spec,
        supply=supply_table(spec),
        groups=groups,
        infeasible=infeasible,
        n_forms=n_forms,
        **_common(),
    )


@blueprint.post("/blueprints/<int:bp_id>/assemble")
@role_required(*MANAGERS)
def assemble(bp_id: int) -> WerkzeugResponse | tuple[str, int]:
    bp = _blueprint_or_404(bp_id)
    try:
        n_forms = max(1, min(50, int(request.form.get("forms", 1))))
        time_limit = max(1.0, min(600.0, float(request.form.get("time_limit", 60))))
        seed = int(request.form.get("seed", 0) or 0)
    except ValueError:
        abort(400)
    try:
        result = assemble_forms(db.session, bp, n_forms, time_limit_s=time_limit, seed=seed, actor=_actor())
        db.session.commit()
    except AssemblyInfeasible as exc:
        db.session.rollback()
        return _detail(bp, exc, n_forms), 422
    except AssemblyError as exc:
        db.session.rollback()
        return _detail(bp, exc, n_forms), 422
    gap = result.gap
    flash(
        f"已组成 {len(result.forms)} 份试卷（最优性差距 {'-' if gap is None else f'{gap:.2%}'}，"
        f"用时 {result.seconds:.1f} 秒）"
    )
    return redirect(url_for("assembly.form_review", form_id=result.forms[0].id))


# ----- forms -----


@blueprint.get("/forms")
@role_required(*MANAGERS)
def forms() -> str:
    rows = db.session.scalars(select(Form).order_by(Form.id.desc())).all()
    names = dict(db.session.execute(select(BlueprintRow.id, BlueprintRow.name)).all())
    return render_template("assembly/forms.html", rows=rows, names=names, **_common())


@blueprint.get("/forms/<int:form_id>")
@role_required(*MANAGERS)
def form_review(form_id: int) -> str:
    form = _form_or_404(form_id)
    review = review_form(db.session, form)
    return render_template("assembly/review.html", form=form, review=review, **_common())


@blueprint.get("/forms/<int:form_id>/plot.png")
@role_required(*MANAGERS)
def form_plot(form_id: int) -> Response:
    from exam_server.assembly.plots import review_png

    form = _form_or_404(form_id)
    response = Response(review_png(review_form(db.session, form)), mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/forms/<int:form_id>/order")
@role_required(*MANAGERS)
def form_order(form_id: int) -> str:
    form = _form_or_404(form_id)
    seed = request.args.get("seed", "0")
    order, options = candidate_order(form, seed)
    versions = {v.id: v for v in db.session.scalars(select(ItemVersion).where(ItemVersion.id.in_(order)))}
    sections = {fi.item_version_id: fi.section for fi in form.items}
    rows = [
        {"n": i + 1, "v": versions[vid], "section": sections[vid], "options": options.get(vid, [])}
        for i, vid in enumerate(order)
    ]
    return render_template("assembly/order.html", form=form, seed=seed, rows=rows, **_common())


@blueprint.post("/forms/<int:form_id>/<action>")
@role_required(*MANAGERS)
def form_action(form_id: int, action: str) -> WerkzeugResponse | tuple[str, int]:
    if action not in ACTIONS:
        abort(404)
    form = _form_or_404(form_id)
    reason = (request.form.get("reason") or "").strip()
    if action == "retire" and not reason:
        flash("停用试卷需要填写原因")
        return redirect(url_for("assembly.form_review", form_id=form.id))
    try:
        ACTIONS[action](db.session, form, _actor(), reason)
        db.session.commit()
    except FormStateError as exc:
        db.session.rollback()
        review = review_form(db.session, form)
        return render_template(
            "assembly/review.html", form=form, review=review, error=str(exc), **_common()
        ), 409
    flash(f"试卷 {form.code} 已{ACTION_LABELS[action]}")
    return redirect(url_for("assembly.form_review", form_id=form.id))
