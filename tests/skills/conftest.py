"""Fixtures of the skills' tests."""

from __future__ import annotations

import pytest
from skills_support import SkillWorld, make_skill_world
from sqlalchemy.orm import Session


@pytest.fixture
def skill_world(session: Session) -> SkillWorld:
    return make_skill_world(session)
