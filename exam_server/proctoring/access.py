"""Who may act on which room: a proctor on their own room (User.room_id), centre staff and admins anywhere; and
the refusal every proctor action shares."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.delivery.limits import is_id
from exam_server.delivery.models import Attempt
from item_bank.kernel import DomainError


class ProctorError(DomainError):
    """A refused proctor action: a stable `code`, a Chinese `message`, and the HTTP status it maps to."""

    default_code = "refused"
    default_status = 409

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message, code=code, status=status)


def may_act_anywhere(user: User) -> bool:
    """Centre staff and admins act on every room."""
    return user.has_role("centre_staff")


def can_act_on_room(user: User | None, room_id: int | None) -> bool:
    """A proctor acts only on their own room (User.room_id); centre staff and admins anywhere."""
    if user is None or not user.active or not user.has_role("proctor", "centre_staff"):
        return False
    if may_act_anywhere(user):
        return True
    return room_id is not None and user.room_id == room_id


def authorise_room(user: User | None, room_id: int | None) -> None:
    """Raise ProctorError(403) unless `user` may act on `room_id`."""
    if user is None or not user.active or not user.has_role("proctor", "centre_staff"):
        raise ProctorError("forbidden", "您没有监考权限。", 403)
    if not can_act_on_room(user, room_id):
        if user.room_id is None:
            raise ProctorError("no_room", "您还没有被分配监考考场，请联系鉴定中心。", 403)
        raise ProctorError("not_your_room", "这不是您监考的考场。", 403)


def room_id_of(attempt: Attempt) -> int | None:
    seat = attempt.ticket.seat
    return seat.room_id if seat is not None else None


def attempt_for(session: Session, user: User | None, attempt_id: Any) -> Attempt:
    """The attempt `user` may act on; 404 for an unknown one, 403 outside their room."""
    attempt = session.get(Attempt, attempt_id) if is_id(attempt_id) else None
    if attempt is None:
        raise ProctorError("not_found", "没有找到这名考生的作答记录。", 404)
    authorise_room(user, room_id_of(attempt))
    return attempt
