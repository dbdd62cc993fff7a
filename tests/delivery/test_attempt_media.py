"""Images reach the candidate only for items of their own running attempt."""

from __future__ import annotations

import json

from conftest import Sitting, exam_socket
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from exam_server.delivery.paper import clear_form_cache
from item_bank.models import FormItem, MediaFile

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_an_items_image_is_served_only_to_its_running_attempt(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session
) -> None:
    attempt = session.get(Attempt, sitting.attempt_ids[0])
    version_id = session.scalar(select(FormItem.item_version_id).where(FormItem.form_id == attempt.form_id))
    session.add(MediaFile(sha256="a" * 64, name="现场.png", mime="image/png", size=len(PNG), data=PNG))
    session.add(MediaFile(sha256="b" * 64, name="别的.png", mime="image/png", size=len(PNG), data=PNG))
    # Stored versions are immutable through the ORM; the test attaches the image underneath it.
    session.execute(text("UPDATE item_version SET media = :m WHERE id = :id"),
                    {"m": json.dumps([{"sha256": "a" * 64, "name": "现场.png"}]), "id": version_id})
    session.commit()
    session.expire_all()
    clear_form_cache()

    token = sitting.login(client)
    url = f"/api/attempts/{attempt.id}/media/{'a' * 64}"
    assert client.get(url).status_code == 404  # not started yet
    sock = exam_socket(app, client)
    sock.emit("join", {"attempt_id": attempt.id, "workstation": "w"}, namespace="/exam", callback=True)
    sock.emit("start", {"attempt_id": attempt.id}, namespace="/exam", callback=True)
    item = next(i for i in client.get("/api/attempt").get_json()["items"] if i["item_id"] == version_id)
    assert item["media"] == [{"sha256": "a" * 64, "name": "现场.png", "url": url}]
    shown = client.get(url)
    assert shown.status_code == 200 and shown.data == PNG and shown.mimetype == "image/png"
    assert client.get(f"/api/attempts/{attempt.id}/media/{'b' * 64}").status_code == 404  # not in this form
    other = app.test_client()
    sitting.login(other, 1)
    assert other.get(url).status_code == 404  # another candidate
    client.post(f"/api/attempts/{attempt.id}/submit", json={"key": "s", "workstation": "w"},
                headers={"X-CSRFToken": token})
    assert client.get(url).status_code == 404  # submitted: nothing more is shown
