"""Fixtures of the certificates' tests."""

from __future__ import annotations

import pytest
from certificates_support import make_organisations, set_codes
from sqlalchemy.orm import Session

from exam_server.organisations.models import Centre


@pytest.fixture
def centre(session: Session) -> Centre:
    centre = make_organisations(session)
    set_codes(session, centre)
    return centre
