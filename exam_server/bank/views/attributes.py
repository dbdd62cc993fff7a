"""The bank's own item attributes (试题属性): the manager lists, defines and edits them here (as `examctl attribute
define|list` does). An edit never rewrites stored versions, so one that would strand a stored value is refused,
naming the items that carry it."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank.views.common import MANAGERS, who
from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.attributes import (
    COGNITIVE_LEVELS,
    ENUM,
    KIND_LABELS,
    NUMBER,
    AttributeError_,
    definitions,
    usage,
)

# Values may be typed one a line or separated by 、 ， , ; as an office writes a list.
_SEPARATORS = re.compile(r"[\n\r、，,;；]+")


def _page(http_status: int = 200, error: str = "", form: dict[str, Any] | None = None) -> tuple[str, int]:
    specs = definitions(db.session)
    html = render_template(
        "bank/attributes.html",
        specs=specs,
        used={s.name: usage(db.session, s.name) for s in specs},
        kinds=KIND_LABELS,
        cognitive_levels=COGNITIVE_LEVELS,
        error=error,
        form=form or {},
    )
    return html, http_status


@role_required(*MANAGERS)
def attributes() -> tuple[str, int]:
    return _page()


@role_required(*MANAGERS)
def attribute_define() -> WerkzeugResponse | tuple[str, int]:
    """Create an attribute or change one (label, values, bounds); refusals re-show the form with the reason."""
    f = request.form
    kind = f.get("kind", ENUM)
    values: list[str] | dict[str, Any]
    if kind == NUMBER:
        values = {"min": f.get("min", "").strip(), "max": f.get("max", "").strip()}
    else:
        values = [v.strip() for v in _SEPARATORS.split(f.get("values", "")) if v.strip()]
    try:
        existed = any(s.name == f.get("name", "").strip() for s in definitions(db.session))
        row = ops.define_attribute(
            db.session, who(), name=f.get("name", ""), label=f.get("label", ""), kind=kind, values=values
        )
    except AttributeError_ as exc:
        db.session.rollback()
        return _page(422, str(exc), dict(f))
    flash(f"已{'修改' if existed else '新增'}属性“{row.label or row.name}”")
    return redirect(url_for("bank.attributes"))
