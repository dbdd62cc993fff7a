"""Fixtures of the organisations tests: two centres in two cities, each with a pilot unit, a site with a room, a sitting, and staff accounts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.organisations import operations as ops
from exam_server.organisations.models import Centre, PilotUnit
from exam_server.sessions import operations as session_ops
from exam_server.sessions import sites
from exam_server.sessions.models import ExamSession, Room, Site
from item_bank.db import utcnow
from item_bank.models import Blueprint

PASSWORD = "pw-organisations"


@dataclass
class World:
    centre_a: Centre
    centre_b: Centre
    unit_a: PilotUnit
    unit_b: PilotUnit
    site_a: Site
    site_b: Site
    room_a: Room
    room_b: Room
    sitting_a: ExamSession
    sitting_b: ExamSession


def account(session: Session, username: str, roles: list[str], organisation_id: int | None = None) -> User:
    user = User(username=username, display_name=username, roles=roles, organisation_id=organisation_id,
                password_hash=hash_password(PASSWORD, "low"))
    session.add(user)
    session.commit()
    return user


def build(session: Session) -> World:
    centre_a = ops.create_centre(session, name="广州鉴定中心", city="广州", code="CA", actor="test")
    centre_b = ops.create_centre(session, name="深圳鉴定中心", city="深圳", code="CB", actor="test")
    unit_a = ops.create_unit(session, name="广州保安培训学校", city="广州", levels="5,4", licence_number="粤A001",
                             code="UA", actor="test")
    unit_b = ops.create_unit(session, name="深圳保安培训学校", city="深圳", levels="5", code="UB", actor="test")
    site_a = sites.create_site(session, code="GZ01", name="广州考点", centre_id=centre_a.id, filing_number="GD-001",
                               actor="test")
    site_b = sites.create_site(session, code="SZ01", name="深圳考点", centre_id=centre_b.id, filing_number="GD-002",
                               actor="test")
    room_a = session_ops.create_room(session, site_a, code="01", name="第1考场", seats=3, actor="test")
    room_b = session_ops.create_room(session, site_b, code="01", name="第1考场", seats=3, actor="test")
    blueprint = Blueprint(name="五级理论", level=5, part="theory", duration_s=3600, spec={"sections": []})
    session.add(blueprint)
    session.flush()
    starts = utcnow() + dt.timedelta(days=7)
    sitting_a = ExamSession(code="S-GZ", name="广州场次", level=5, part="theory", blueprint_id=blueprint.id,
                            starts_at=starts, duration_s=3600, centre_id=centre_a.id)
    sitting_b = ExamSession(code="S-SZ", name="深圳场次", level=5, part="theory", blueprint_id=blueprint.id,
                            starts_at=starts, duration_s=3600, centre_id=centre_b.id)
    session.add_all([sitting_a, sitting_b])
    session.commit()
    return World(centre_a, centre_b, unit_a, unit_b, site_a, site_b, room_a, room_b, sitting_a, sitting_b)


@pytest.fixture
def world(app: Flask, session: Session) -> World:
    return build(session)


@pytest.fixture
def make_account(app: Flask, session: Session) -> Callable[..., User]:
    """make_account(username, roles, organisation_id=None): a staff account with password PASSWORD."""
    return lambda username, roles, organisation_id=None: account(session, username, roles, organisation_id)
