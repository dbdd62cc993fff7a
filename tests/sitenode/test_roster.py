"""The check-in roster: the proctor of a room sees its candidates with their ID photos, and no other room's."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from proctor_support import seated, staff_login  # noqa: F401  (the fixture)
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from exam_server.sitenode.models import TicketPhoto

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_the_roster_shows_the_room_and_its_photos(app: Flask, session: Session, seated: Any) -> None:  # noqa: F811
    mine = session.get(Attempt, seated.attempt_ids[0]).ticket
    other = session.get(Attempt, seated.other_room_attempt).ticket
    for ticket in (mine, other):
        session.add(TicketPhoto(ticket_id=ticket.id, sha256="0" * 64, mime="image/png", data=PNG))
    session.commit()
    client = app.test_client()
    staff_login(client, "proctor")
    assert client.get("/site-node/roster").headers["Location"].endswith(f"/site-node/rooms/{seated.room1}/roster")
    page = client.get(f"/site-node/rooms/{seated.room1}/roster").get_data(as_text=True)
    assert mine.candidate.name in page and other.candidate.name not in page
    assert f"/site-node/photos/{mine.id}" in page
    photo = client.get(f"/site-node/photos/{mine.id}")
    assert photo.data == PNG and photo.mimetype == "image/png" and "sandbox" in photo.headers["Content-Security-Policy"]
    assert client.get(f"/site-node/photos/{other.id}").status_code == 403
    assert client.get(f"/site-node/rooms/{seated.room2}/roster").status_code == 403
