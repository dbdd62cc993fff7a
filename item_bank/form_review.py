"""Form review: what the bank manager reads before approving and locking a form.

`review_form` measures a form against the blueprint it was assembled from: composition (area × type),
difficulty, test information, overlap with its parallel forms, enemies, and whether a lock still holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.assembly.evaluate import evaluate_form, evaluate_forms
from item_bank.assembly.pool import (
    OTHER_AREA,
    ItemRecord,
    item_information,
    records_for_versions,
    resolve_areas,
)
from item_bank.blueprints import BlueprintSpec, spec_of
from item_bank.forms import FROZEN_STATES, verify_lock
from item_bank.models import Blueprint, Form

THETA_GRID = tuple(round(-3 + 0.1 * i, 1) for i in range(61))


@dataclass
class FormReview:
    """One form measured against its blueprint, with its parallel forms (same assembly group)."""

    form: Form
    spec: BlueprintSpec
    records: list[ItemRecord]
    measured: dict[str, Any]
    composition: list[dict[str, Any]]
    section_totals: list[dict[str, Any]]
    group: list[Form]
    group_measured: dict[str, Any]
    curves: dict[str, list[float]]  # form code -> information over THETA_GRID (only forms with IRT data)
    lock_intact: bool | None
    area_names: dict[str, str] = field(default_factory=dict)

    @property
    def violations(self) -> list[str]:
        return list(self.measured["violations"])

    @property
    def form_index(self) -> int:
        return next(i for i, f in enumerate(self.group) if f.id == self.form.id)

    @property
    def solver(self) -> dict[str, Any]:
        return dict((self.form.assembly_report or {}).get("solver") or {})


UNCLASSIFIED_NAME = "（未分类）"


def form_spec(session: Session, form: Form) -> BlueprintSpec:
    """The blueprint as it was when the form was assembled (else as it is now)."""
    data = (form.assembly_report or {}).get("blueprint", {}).get("spec")
    if data:
        return BlueprintSpec.from_dict(data, f"试卷 {form.code} 的蓝图")
    bp = session.get(Blueprint, form.blueprint_id)
    assert bp is not None
    return spec_of(bp)


def form_records(session: Session, form: Form, spec: BlueprintSpec) -> list[ItemRecord]:
    ids = [fi.item_version_id for fi in sorted(form.items, key=lambda fi: fi.position)]
    return records_for_versions(session, spec, ids)


def review_form(session: Session, form: Form) -> FormReview:
    """Composition (area × type), difficulty, information, overlap with its parallel forms, enemies."""
    spec = form_spec(session, form)
    records = form_records(session, form, spec)
    measured = evaluate_form(spec, records)
    group = [form]
    if form.assembly_group:
        group = list(
            session.scalars(
                select(Form).where(Form.assembly_group == form.assembly_group).order_by(Form.code)
            )
        )
    group_records = [records if f.id == form.id else form_records(session, f, spec) for f in group]
    group_measured = evaluate_forms(spec, group_records)
    types = [s.type for s in spec.sections]
    total = spec.total_points
    points_of = {s.type: s.points for s in spec.sections}
    _, area_names, _ = resolve_areas(session, spec)
    cells: dict[str, dict[str, int]] = {}
    names: dict[str, str] = {}
    for r in records:
        # An item under none of the blueprint's listed areas is shown under its own area: lumping them all
        # under the first one's name once showed a whole form as one area with 100%.
        key = r.area if r.area != OTHER_AREA else f"{OTHER_AREA}:{r.area_name or UNCLASSIFIED_NAME}"
        cells.setdefault(key, dict.fromkeys(types, 0))
        cells[key][r.type] = cells[key].get(r.type, 0) + 1
        names.setdefault(key, r.area_name or UNCLASSIFIED_NAME)
    composition = []
    for key in [*spec.area_shares, *sorted(k for k in cells if k not in spec.area_shares)]:
        by_type = cells.get(key, dict.fromkeys(types, 0))
        points = sum(n * points_of.get(t, 0.0) for t, n in by_type.items())
        share = points / total if total else 0.0
        target = spec.area_shares.get(key)
        ok = target is None or abs(share - target) <= spec.area_tolerance + 1e-9
        composition.append(
            {
                "key": key,
                "name": area_names.get(key) or names.get(key) or key,
                "by_type": by_type,
                "points": points,
                "share": share,
                "target": target,
                "ok": ok,
            }
        )
    section_totals = [
        {
            "type": s.type,
            "label": s.label,
            "count": measured["sections"][s.type]["count"],
            "need": s.count,
            "points": measured["sections"][s.type]["points"],
            "need_points": s.total_points,
        }
        for s in spec.sections
    ]
    curves: dict[str, list[float]] = {}
    grid = np.array(THETA_GRID)
    for f, recs in zip(group, group_records, strict=True):
        if recs and all(r.irt is not None for r in recs):
            curves[f.code] = [float(v) for v in sum(item_information(r.irt, grid) for r in recs if r.irt)]
    lock_intact = verify_lock(session, form) if form.status in FROZEN_STATES else None
    return FormReview(
        form,
        spec,
        records,
        measured,
        composition,
        section_totals,
        group,
        group_measured,
        curves,
        lock_intact,
        area_names,
    )
