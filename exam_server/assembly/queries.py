"""What the assembly screens and commands read: blueprints with their forms, the bank's supply for a
blueprint, a level's knowledge tree, one candidate's order. Nothing here writes."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.assembly import AssemblyInfeasible, load_pool
from item_bank.assembly.explain import precheck
from item_bank.assembly.pool import OTHER_AREA, REASON_LABELS
from item_bank.blueprints import BlueprintError, BlueprintSpec, get_blueprint, spec_of
from item_bank.forms import candidate_order
from item_bank.models import Blueprint, Form, ItemVersion, KnowledgeArea


def blueprints_with_specs(session: Session) -> tuple[list[Blueprint], dict[int, BlueprintSpec | None]]:
    """Every blueprint (highest level first, then by name) and its spec (None when it cannot be read)."""
    rows = list(session.scalars(select(Blueprint).order_by(Blueprint.level.desc(), Blueprint.name)))
    # An observed skill sitting's blueprint (skills/operations.py, spec "observed") carries no paper to assemble.
    rows = [bp for bp in rows if not (bp.spec or {}).get("observed")]
    specs: dict[int, BlueprintSpec | None] = {}
    for bp in rows:
        try:
            specs[bp.id] = spec_of(bp)
        except BlueprintError:
            specs[bp.id] = None
    return rows, specs


def all_blueprints(session: Session) -> list[Blueprint]:
    """Every blueprint in the order they were made."""
    return list(session.scalars(select(Blueprint).order_by(Blueprint.id)))


def form_counts(session: Session) -> dict[int, int]:
    """How many forms each blueprint has produced."""
    return dict(session.execute(select(Form.blueprint_id, func.count()).group_by(Form.blueprint_id)).all())


def all_forms(session: Session) -> tuple[list[Form], dict[int, str]]:
    """Every form, newest first, and the names of the blueprints by id."""
    rows = list(session.scalars(select(Form).order_by(Form.id.desc())))
    names = dict(session.execute(select(Blueprint.id, Blueprint.name)).all())
    return rows, names


def forms_of(session: Session, blueprint_ref: str | None = None) -> list[Form]:
    """Forms in the order they were made, all or only those of one blueprint (BlueprintError if unknown)."""
    query = select(Form).order_by(Form.id)
    if blueprint_ref:
        bp = get_blueprint(session, blueprint_ref)
        if bp is None:
            raise BlueprintError(f"没有名为「{blueprint_ref}」的蓝图")
        query = query.where(Form.blueprint_id == bp.id)
    return list(session.scalars(query))


def form_by_code(session: Session, code: str) -> Form | None:
    """A form by its code, or by its number."""
    form = session.scalar(select(Form).where(Form.code == code))
    if form is None and code.isdigit():
        form = session.get(Form, int(code))
    return form


def form_groups(session: Session, bp: Blueprint) -> dict[str, list[Form]]:
    """A blueprint's forms by assembly run (parallel forms together, by code)."""
    groups: dict[str, list[Form]] = defaultdict(list)
    for f in session.scalars(select(Form).where(Form.blueprint_id == bp.id).order_by(Form.id.desc())):
        groups[f.assembly_group].append(f)
    for g in groups.values():
        g.sort(key=lambda f: f.code)
    return groups


def area_rows(session: Session, level: int, part: str) -> list[dict[str, Any]]:
    """The knowledge tree of a level and part (and shared areas) in display order, with depth."""
    areas = session.scalars(
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


def certain_shortfall(session: Session, bp: Blueprint, n_forms: int) -> AssemblyInfeasible | None:
    """What the bank certainly lacks for `n_forms` forms of `bp`, found by counting (no solver): the screen says
    it at once instead of queuing a job that would only fail."""
    spec = spec_of(bp)
    shortfalls = precheck(load_pool(session, spec), spec, n_forms)
    return AssemblyInfeasible(bp.name, shortfalls, n_forms) if shortfalls else None


def supply_table(session: Session, spec: BlueprintSpec) -> dict[str, Any]:
    """Approved, usable items per blueprint area × section type, and why others are excluded."""
    pool = load_pool(session, spec)
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
    totals: Counter[str] = Counter()
    for c in table.values():
        totals.update(c)
    return {
        "rows": rows,
        "totals": dict(totals),
        "unknown": pool.unknown_areas,
        "excluded": {REASON_LABELS.get(k, k): n for k, n in excluded.items()},
    }


def order_rows(session: Session, form: Form, seed: str) -> list[dict[str, Any]]:
    """One candidate's paper as staff check it: position, version, section and option order."""
    order, options = candidate_order(form, seed)
    versions = {v.id: v for v in session.scalars(select(ItemVersion).where(ItemVersion.id.in_(order)))}
    sections = {fi.item_version_id: fi.section for fi in form.items}
    return [
        {"n": i + 1, "v": versions[vid], "section": sections[vid], "options": options.get(vid, [])}
        for i, vid in enumerate(order)
    ]
