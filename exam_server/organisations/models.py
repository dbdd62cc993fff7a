"""The organisations of the province's assessment, in one table: province → city → centre, units.

One table `organisation` with a `kind` (single-table inheritance): `Province` (省), `City` (市),
`Centre` (鉴定中心) and `PilotUnit` (培训鉴定试点单位) are its kinds. One table because a staff account
belongs to exactly one organisation of any of these kinds (`User.organisation_id`, a real foreign key),
and because scope is decided from the kind of that organisation (organisations/scope.py).

Tree: a city's `parent_id` is its province; a centre's `parent_id` is its city; a unit's `parent_id` is its
city and its `centre_id` the centre that reviews its applicants (复审) and runs its sittings. Test sites
(上机考试点) stay `sessions.models.Site`, which carries `centre_id` and its filing number (备案编号).

Other domains point at organisations with `ForeignKey("organisation.id")` (an application's unit, a site's
or a sitting's centre) and relate to the subclass they mean (`relationship(PilotUnit)`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from item_bank.db import Base, utcnow

PROVINCE = "province"
CITY = "city"
CENTRE = "centre"
UNIT = "unit"
KINDS = (PROVINCE, CITY, CENTRE, UNIT)
KIND_LABELS = {PROVINCE: "省", CITY: "市", CENTRE: "鉴定中心", UNIT: "试点单位"}

# The levels a pilot unit may present candidates for (5 = 初级 … 1 = 高级保安师).
LEVELS = (5, 4, 3, 2, 1)


class Organisation(Base):
    """A province, city, assessment centre or pilot training unit (see the module docstring)."""

    __tablename__ = "organisation"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    # Short, stable, unique across kinds: what commands and imports name (P, CY001, C001, U0001 by default).
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # City → province; centre → city; unit → city.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), nullable=True, index=True)
    # A unit's centre.
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), nullable=True, index=True)
    # A unit's 《保安培训许可证》 number.
    licence_number: Mapped[str] = mapped_column(String(60), default="", server_default="")
    # A unit's levels, e.g. [5, 4]; empty for other kinds.
    levels: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "organisation"}  # noqa: RUF012

    parent: Mapped[Organisation | None] = relationship(
        remote_side=[id], foreign_keys=[parent_id], lazy="joined", innerjoin=False, join_depth=3
    )

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


class Province(Organisation):
    """The province (省): its accounts see everything."""

    __mapper_args__ = {"polymorphic_identity": PROVINCE}  # noqa: RUF012


class City(Organisation):
    """A city (地市) of the province; `parent` is the province."""

    __mapper_args__ = {"polymorphic_identity": CITY}  # noqa: RUF012


class Centre(Organisation):
    """An assessment centre (职业技能鉴定中心); `parent` is its city. Owns test sites, units and sittings."""

    __mapper_args__ = {"polymorphic_identity": CENTRE}  # noqa: RUF012

    @property
    def city(self) -> Organisation | None:
        return self.parent


class PilotUnit(Organisation):
    """A pilot training unit (培训鉴定试点单位): licence number, the levels it may present, its city and centre."""

    __mapper_args__ = {"polymorphic_identity": UNIT}  # noqa: RUF012

    centre: Mapped[Centre | None] = relationship(
        Centre, remote_side=[Organisation.id], foreign_keys=[Organisation.centre_id], lazy="joined"
    )

    @property
    def city(self) -> Organisation | None:
        return self.parent
