"""Fixtures of the reports' tests: the hand-counted world of reports_support (SQLite only: the figures are plain
SELECTs; nothing here depends on the backend)."""

from __future__ import annotations

import pytest
from reports_support import World, build
from sqlalchemy.orm import Session


@pytest.fixture
def world(session: Session) -> World:
    return build(session)
