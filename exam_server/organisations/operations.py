"""Keeping the organisations: the province, its cities, assessment centres and pilot training units, and which
organisation a staff account belongs to.

Every write runs in its own transaction and is audited; bad input is refused with a Chinese message naming the
field (`OrganisationError`, its `field` in `details`). A write done for an account passes that account's
`Scope` (`scope=`): a read-only account is refused, and a centre's staff may only act inside their centre.
Without `scope` (commands run by the operator, the demo) nothing is restricted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core import operations as core_ops
from exam_server.core.models import User
from exam_server.organisations.models import (
    CENTRE,
    CITY,
    KIND_LABELS,
    LEVELS,
    PROVINCE,
    UNIT,
    Centre,
    City,
    Organisation,
    PilotUnit,
    Province,
)
from exam_server.organisations.scope import OutOfScope, Scope
from item_bank.audit import audit
from item_bank.kernel import DomainError, transaction

DEFAULT_PROVINCE_NAME = "本省"
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
CODE_PREFIX = {PROVINCE: "P", CITY: "CY", CENTRE: "C", UNIT: "U"}
CODE_DIGITS = {PROVINCE: 2, CITY: 3, CENTRE: 3, UNIT: 4}
LEVEL_WORDS = {"初级": 5, "中级": 4, "高级": 3, "五级": 5, "四级": 4, "三级": 3, "二级": 2, "一级": 1}

OrgT = TypeVar("OrgT", bound=Organisation)


class OrganisationError(DomainError):
    """An organisation cannot be created or changed as asked; `details["field"]` names the field."""

    default_code = "organisation"
    default_status = 400


def _refuse(field: str, message: str, code: str = "organisation") -> OrganisationError:
    return OrganisationError(f"{field}：{message}", code=code, field=field)


def _state(org: Organisation) -> dict[str, Any]:
    state: dict[str, Any] = {"kind": org.kind, "code": org.code, "name": org.name, "parent_id": org.parent_id}
    if org.kind == UNIT:
        state.update(centre_id=org.centre_id, licence_number=org.licence_number, levels=list(org.levels or []))
    return state


def _check_scope(scope: Scope | None, centre_id: int | None, what: str) -> None:
    if scope is None:
        return
    scope.check_write()
    scope.check_centre(centre_id, what)


def _require_province_scope(scope: Scope | None, what: str) -> None:
    """Cities and centres are the province's to keep."""
    if scope is None:
        return
    scope.check_write()
    if not scope.everything:
        raise OutOfScope(f"只有省级账号可以新建或修改{what}。", code="province_only")


# ---------------------------------------------------------------- validation


def clean_name(value: str, field: str = "名称") -> str:
    name = (value or "").strip()
    if not name:
        raise _refuse(field, "必须填写", "name_required")
    if len(name) > 200:
        raise _refuse(field, f"不能超过 200 个字（现为 {len(name)} 个）", "name_too_long")
    return name


def clean_code(session: Session, kind: str, code: str | None, *, own_id: int | None = None) -> str:
    """`code` checked (letters, digits, - and _; unique across organisations), or the next free one of `kind`."""
    code = (code or "").strip()
    if not code:
        return _next_code(session, kind)
    if not CODE_PATTERN.match(code):
        raise _refuse("编号", f"“{code}”只能由字母、数字、- 和 _ 组成，且不超过 40 个字符", "invalid_code")
    holder = session.scalar(select(Organisation).where(Organisation.code == code))
    if holder is not None and holder.id != own_id:
        raise _refuse("编号", f"{code} 已被{holder.kind_label} {holder.name} 使用", "code_taken")
    return code


def _next_code(session: Session, kind: str) -> str:
    prefix, digits = CODE_PREFIX[kind], CODE_DIGITS[kind]
    count = session.scalar(select(func.count()).select_from(Organisation).where(Organisation.kind == kind)) or 0
    number = count + 1
    while session.scalar(select(Organisation.id).where(Organisation.code == f"{prefix}{number:0{digits}d}")):
        number += 1
    return f"{prefix}{number:0{digits}d}"


def parse_levels(value: str | Iterable[int | str] | None, field: str = "等级") -> list[int]:
    """Levels from "5,4" / "5，4" / ["初级", 4]: each 1-5 (or 初级/中级/高级/五级 …), sorted high to low, no repeats."""
    if value is None:
        return []
    parts: list[str] = (
        [p for p in re.split(r"[,，、\s]+", value) if p] if isinstance(value, str) else [str(v) for v in value]
    )
    levels: list[int] = []
    for part in parts:
        text = part.strip().removesuffix("保安员")
        level = LEVEL_WORDS.get(text) if not text.isdigit() else int(text)
        if level not in LEVELS:
            raise _refuse(field, f"“{part}”不是等级（应为 5、4、3、2、1 或 初级、中级、高级）", "invalid_level")
        if level not in levels:
            levels.append(level)
    return sorted(levels, reverse=True)


def clean_licence(value: str | None) -> str:
    licence = (value or "").strip()
    if len(licence) > 60:
        raise _refuse("保安培训许可证编号", f"不能超过 60 个字符（现为 {len(licence)} 个）", "licence_too_long")
    return licence


def _unique_name(session: Session, kind: str, name: str, own_id: int | None = None) -> None:
    holder = session.scalar(select(Organisation).where(Organisation.kind == kind, Organisation.name == name))
    if holder is not None and holder.id != own_id:
        raise _refuse("名称", f"已有{KIND_LABELS[kind]}“{name}”（编号 {holder.code}）", "name_taken")


# ---------------------------------------------------------------- finding


def find(session: Session, cls: type[OrgT], ref: str, field: str | None = None) -> OrgT:
    """The organisation of class `cls` whose code (or, failing that, name) is `ref`; refused naming `field`."""
    ref = (ref or "").strip()
    found = session.scalar(select(cls).where(cls.code == ref)) or session.scalar(select(cls).where(cls.name == ref))
    if found is None:
        label = KIND_LABELS[cls.__mapper_args__["polymorphic_identity"]]
        raise OrganisationError(f"{field or label}：没有编号或名称为“{ref}”的{label}", code="not_found",
                                status=404, field=field or label)
    return found


def find_any(session: Session, ref: str, field: str = "所属机构") -> Organisation:
    """A centre, unit or the province by code (or name), for an account's organisation."""
    ref = (ref or "").strip()
    found = session.scalar(select(Organisation).where(Organisation.code == ref)) or session.scalar(
        select(Organisation).where(Organisation.name == ref, Organisation.kind.in_((CENTRE, UNIT, PROVINCE)))
    )
    if found is None:
        raise OrganisationError(f"{field}：没有编号或名称为“{ref}”的机构", code="not_found", status=404, field=field)
    if found.kind == CITY:
        raise _refuse(field, f"{found.name} 是城市；账号应属于鉴定中心、试点单位或省", "not_a_member_kind")
    return found


def province(session: Session) -> Province | None:
    return session.scalar(select(Province).order_by(Province.id).limit(1))


def centres(session: Session, scope: Scope | None = None) -> list[Centre]:
    query = select(Centre).order_by(Centre.code)
    if scope is not None:
        query = query.where(scope.centre_clause(Centre.id))
    return list(session.scalars(query))


def units(session: Session, scope: Scope | None = None) -> list[PilotUnit]:
    query = select(PilotUnit).order_by(PilotUnit.code)
    if scope is not None:
        query = query.where(scope.unit_clause(PilotUnit.id))
    return list(session.scalars(query))


def cities(session: Session) -> list[City]:
    return list(session.scalars(select(City).order_by(City.code)))


# ---------------------------------------------------------------- writes


def ensure_province(session: Session, actor: str, name: str = DEFAULT_PROVINCE_NAME) -> Province:
    """The province (one per installation), created with `name` if there is none yet. Commits."""
    existing = province(session)
    if existing is not None:
        return existing
    with transaction(session):
        return ensure_province_in(session, actor, clean_name(name))


def ensure_province_in(session: Session, actor: str, name: str = DEFAULT_PROVINCE_NAME) -> Province:
    """The province inside the caller's transaction (created with `name` if missing); flushes."""
    existing = province(session)
    if existing is not None:
        return existing
    taken = session.scalar(select(Organisation.id).where(Organisation.code == "P"))
    return _add(session, Province(code=_next_code(session, PROVINCE) if taken else "P", name=name), actor)


def _add(session: Session, org: OrgT, actor: str) -> OrgT:
    session.add(org)
    session.flush()
    audit(session, actor, f"{org.kind}.created", "organisation", org.id, after=_state(org))
    return org


def _city(session: Session, name: str, actor: str) -> City:
    """The city named `name`, created under the province if not yet known; flushes."""
    name = clean_name(name, "城市")
    city = session.scalar(select(City).where(City.name == name))
    if city is not None:
        return city
    the_province = ensure_province_in(session, actor)
    return _add(session, City(code=_next_code(session, CITY), name=name, parent_id=the_province.id), actor)


def create_city(session: Session, *, name: str, actor: str, code: str | None = None,
                scope: Scope | None = None) -> City:
    """A new city (地市) under the province. Commits."""
    _require_province_scope(scope, "城市")
    name = clean_name(name, "城市")
    _unique_name(session, CITY, name)
    with transaction(session):
        the_province = ensure_province_in(session, actor)
        return _add(session, City(code=clean_code(session, CITY, code), name=name, parent_id=the_province.id), actor)


def create_centre(session: Session, *, name: str, city: str, actor: str, code: str | None = None,
                  scope: Scope | None = None) -> Centre:
    """A new assessment centre (鉴定中心) in `city` (a city not yet known is created). Commits."""
    _require_province_scope(scope, "鉴定中心")
    name = clean_name(name)
    _unique_name(session, CENTRE, name)
    code = clean_code(session, CENTRE, code)
    with transaction(session):
        the_city = _city(session, city, actor)
        return _add(session, Centre(code=code, name=name, parent_id=the_city.id), actor)


def update_centre(session: Session, centre: Centre, *, actor: str, name: str | None = None,
                  city: str | None = None, scope: Scope | None = None) -> Centre:
    """Rename a centre or move it to another city. The province's, or the centre's own staff. Commits."""
    _check_scope(scope, centre.id, "鉴定中心")
    before = _state(centre)
    new_name = clean_name(name) if name is not None else centre.name
    _unique_name(session, CENTRE, new_name, centre.id)
    with transaction(session):
        centre.name = new_name
        if city is not None and city.strip():
            centre.parent_id = _city(session, city, actor).id
        session.flush()
        audit(session, actor, "centre.updated", "organisation", centre.id, before=before, after=_state(centre))
    return centre


def _unit_centre(session: Session, centre: Centre | str | None, city: City) -> Centre | None:
    if isinstance(centre, Centre):
        return centre
    if centre:
        return find(session, Centre, centre, "鉴定中心")
    # Not named: the city's only centre, if it has exactly one; otherwise none (never a guess among several).
    in_city = session.scalars(select(Centre).where(Centre.parent_id == city.id).limit(2)).all()
    return in_city[0] if len(in_city) == 1 else None


def create_unit(
    session: Session,
    *,
    name: str,
    city: str,
    actor: str,
    centre: Centre | str | None = None,
    licence_number: str | None = "",
    levels: str | Iterable[int | str] | None = None,
    code: str | None = None,
    scope: Scope | None = None,
) -> PilotUnit:
    """A new pilot training unit (培训鉴定试点单位) in `city` (created if not yet known), reviewed by `centre`
    (a Centre, its code or name; by default the city's only centre, else none). Centre staff create units in
    their own centre only (their centre is the default). Commits."""
    name = clean_name(name)
    _unique_name(session, UNIT, name)
    licence = clean_licence(licence_number)
    chosen_levels = parse_levels(levels)
    code = clean_code(session, UNIT, code)
    if scope is not None and centre is None and scope.own_centre_id is not None:
        centre = session.get(Centre, scope.own_centre_id)
    with transaction(session):
        the_city = _city(session, city, actor)
        the_centre = _unit_centre(session, centre, the_city)
        _check_scope(scope, the_centre.id if the_centre else None, "鉴定中心")
        unit = PilotUnit(code=code, name=name, parent_id=the_city.id, centre_id=the_centre.id if the_centre else None,
                         licence_number=licence, levels=chosen_levels)
        return _add(session, unit, actor)


def update_unit(
    session: Session,
    unit: PilotUnit,
    *,
    actor: str,
    name: str | None = None,
    city: str | None = None,
    centre: Centre | str | None = None,
    licence_number: str | None = None,
    levels: str | Iterable[int | str] | None = None,
    scope: Scope | None = None,
) -> PilotUnit:
    """Change a unit's name, city, centre, licence number or levels (None: unchanged). Centre staff change their
    own centre's units and cannot hand one to another centre. Commits."""
    _check_scope(scope, unit.centre_id, "试点单位")
    before = _state(unit)
    new_name = clean_name(name) if name is not None else unit.name
    _unique_name(session, UNIT, new_name, unit.id)
    licence = clean_licence(licence_number) if licence_number is not None else unit.licence_number
    new_levels = parse_levels(levels) if levels is not None else list(unit.levels or [])
    with transaction(session):
        if city is not None and city.strip():
            unit.parent_id = _city(session, city, actor).id
        if centre is not None and centre != "":
            the_centre = centre if isinstance(centre, Centre) else find(session, Centre, centre, "鉴定中心")
            _check_scope(scope, the_centre.id, "鉴定中心")
            unit.centre_id = the_centre.id
        unit.name, unit.licence_number, unit.levels = new_name, licence, new_levels
        session.flush()
        audit(session, actor, "unit.updated", "organisation", unit.id, before=before, after=_state(unit))
    return unit


def set_user_organisation(session: Session, user: User, organisation: Organisation | None, actor: str,
                          scope: Scope | None = None) -> User:
    """Make `user` a member of `organisation` (a centre, a unit or the province; None: none). Commits."""
    if organisation is not None and organisation.kind == CITY:
        raise _refuse("所属机构", f"{organisation.name} 是城市；账号应属于鉴定中心、试点单位或省", "not_a_member_kind")
    if scope is not None:
        scope.check_write()
        if organisation is not None and organisation.kind == UNIT:
            scope.check_unit(organisation.id, "试点单位")
        elif not scope.everything:
            scope.check_centre(organisation.id if organisation is not None else None, "机构")
    core_ops.set_organisation(session, user, organisation.id if organisation is not None else None, actor)
    return user


# ---------------------------------------------------------------- what core's account commands ask


class _Directory:
    """Core's accounts name organisations by code without importing this package (core is below it)."""

    def resolve(self, session: Session, ref: str) -> int:
        return find_any(session, ref).id

    def describe(self, session: Session, organisation_id: int | None) -> str:
        org = session.get(Organisation, organisation_id) if organisation_id is not None else None
        return f"{org.kind_label} {org.name}（{org.code}）" if org is not None else ""


core_ops.register_organisation_directory(_Directory())
