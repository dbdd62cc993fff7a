"""Screens to keep the organisations: cities, assessment centres and pilot units, and who belongs to each.

URL table (scope: a centre's staff see and change their own centre and its units; a unit's staff see their
own unit; the province and admins everything; the police read everything):
  GET  /organisations                    the province's cities, centres and units in scope    staff below
  POST /organisations/cities             a new city                                          province
  POST /organisations/centres            a new centre                                        province
  POST /organisations/units              a new pilot unit (centre staff: in their centre)    province, centre staff
  GET  /organisations/<id>               one centre or unit, its members, its edit form      staff below
  POST /organisations/<id>               change a centre or unit                             province, centre staff
  POST /organisations/<id>/members       make an account a member                            province (admin)

Sites (上机考试点) with their filing numbers are kept on the sites screen (/centre/sites, sessions/views.py).
A refused change shows the page again with the reason naming the field (400); out of scope is 403.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.core.auth import role_required
from exam_server.core.models import User
from exam_server.core.operations import ROLE_LABELS
from exam_server.extensions import db
from exam_server.organisations import operations as ops
from exam_server.organisations.models import CENTRE, LEVELS, UNIT, Centre, Organisation, PilotUnit
from exam_server.organisations.scope import current_scope

blueprint = Blueprint("organisations", __name__, url_prefix="/organisations")

READERS = ("centre_staff", "pilot_unit", "province", "police")
KEEPERS = ("centre_staff", "province")
LEVEL_LABELS = {5: "五级（初级）", 4: "四级（中级）", 3: "三级（高级）", 2: "二级（保安师）", 1: "一级（高级保安师）"}


def _form(name: str) -> str:
    return request.form.get(name, "").strip()


def _levels_field() -> list[str]:
    return request.form.getlist("levels")


def _index_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    scope = current_scope()
    return render_template(
        "organisations/index.html", scope=scope, province=ops.province(db.session), cities=ops.cities(db.session),
        centres=ops.centres(db.session, scope), units=ops.units(db.session, scope), levels=LEVELS,
        level_labels=LEVEL_LABELS, error=error,
        may_keep_province=scope.everything and not scope.read_only,
        may_add_unit=not scope.read_only and (scope.everything or bool(scope.centre_ids)),
    ), status


def _change(change: Callable[[], str], refused: Callable[[str, int], tuple[str, int]],
            then: Callable[[], str]) -> WerkzeugResponse | tuple[str, int]:
    """Run a change (an operation that commits); flash what it says and redirect, or show the page again with
    why it was refused (a field's problem: 400). Out of scope is the app's 403 page."""
    try:
        done = change()
    except ops.OrganisationError as exc:
        db.session.rollback()
        return refused(exc.message, exc.status)
    flash(done)
    return redirect(then())


@blueprint.get("")
@role_required(*READERS)
def index() -> tuple[str, int]:
    return _index_page()


@blueprint.post("/cities")
@role_required("province")
def create_city() -> WerkzeugResponse | tuple[str, int]:
    def change() -> str:
        city = ops.create_city(db.session, name=_form("name"), code=_form("code") or None, actor=current_user.actor,
                               scope=current_scope())
        return f"已新建城市 {city.name}（{city.code}）。"

    return _change(change, _index_page, lambda: url_for("organisations.index"))


@blueprint.post("/centres")
@role_required("province")
def create_centre() -> WerkzeugResponse | tuple[str, int]:
    def change() -> str:
        centre = ops.create_centre(db.session, name=_form("name"), city=_form("city"), code=_form("code") or None,
                                   actor=current_user.actor, scope=current_scope())
        return f"已新建鉴定中心 {centre.name}（{centre.code}）。"

    return _change(change, _index_page, lambda: url_for("organisations.index"))


@blueprint.post("/units")
@role_required(*KEEPERS)
def create_unit() -> WerkzeugResponse | tuple[str, int]:
    def change() -> str:
        unit = ops.create_unit(db.session, name=_form("name"), city=_form("city"), centre=_form("centre") or None,
                               licence_number=_form("licence_number"), levels=_levels_field(),
                               code=_form("code") or None, actor=current_user.actor, scope=current_scope())
        return f"已新建试点单位 {unit.name}（{unit.code}）。"

    return _change(change, _index_page, lambda: url_for("organisations.index"))


def _organisation(organisation_id: int) -> Organisation:
    """A centre or unit the account may see (404 if none, 403 if out of scope)."""
    org = db.session.get(Organisation, organisation_id)
    if org is None or org.kind not in (CENTRE, UNIT):
        abort(404)
    scope = current_scope()
    if isinstance(org, PilotUnit):
        scope.check_unit(org.id, "试点单位")
    else:
        scope.check_centre(org.id, "鉴定中心")
    return org


def _detail_page(org: Organisation, error: str | None = None, status: int = 200) -> tuple[str, int]:
    scope = current_scope()
    members = db.session.scalars(select(User).where(User.organisation_id == org.id).order_by(User.username)).all()
    if isinstance(org, PilotUnit):
        may_edit = not scope.read_only and (scope.everything or (org.centre_id in scope.centre_ids))
    else:
        may_edit = not scope.read_only and (scope.everything or org.id in scope.centre_ids)
    return render_template(
        "organisations/detail.html", org=org, members=members, role_labels=ROLE_LABELS,
        centres=ops.centres(db.session, scope if not scope.everything else None), levels=LEVELS,
        level_labels=LEVEL_LABELS, may_edit=may_edit, may_add_member=scope.everything and not scope.read_only,
        error=error,
    ), status


@blueprint.get("/<int:organisation_id>")
@role_required(*READERS)
def detail(organisation_id: int) -> tuple[str, int]:
    return _detail_page(_organisation(organisation_id))


@blueprint.post("/<int:organisation_id>")
@role_required(*KEEPERS)
def update(organisation_id: int) -> WerkzeugResponse | tuple[str, int]:
    org = _organisation(organisation_id)

    def change() -> str:
        if isinstance(org, PilotUnit):
            ops.update_unit(db.session, org, name=_form("name"), city=_form("city"), centre=_form("centre") or None,
                            licence_number=_form("licence_number"), levels=_levels_field(),
                            actor=current_user.actor, scope=current_scope())
        elif isinstance(org, Centre):
            ops.update_centre(db.session, org, name=_form("name"), city=_form("city"), actor=current_user.actor,
                              scope=current_scope())
        return f"已保存 {org.kind_label} {org.name}。"

    return _change(change, lambda message, status: _detail_page(org, message, status),
                   lambda: url_for("organisations.detail", organisation_id=organisation_id))


@blueprint.post("/<int:organisation_id>/members")
@role_required("province")
def add_member(organisation_id: int) -> WerkzeugResponse | tuple[str, int]:
    org = _organisation(organisation_id)
    username = _form("username")
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        return _detail_page(org, f"用户名：没有用户“{username}”。", 400)

    def change() -> str:
        ops.set_user_organisation(db.session, user, org, current_user.actor, scope=current_scope())
        return f"{user.display_name}（{user.username}）现属于 {org.name}。"

    return _change(change, lambda message, status: _detail_page(org, message, status),
                   lambda: url_for("organisations.detail", organisation_id=organisation_id))
