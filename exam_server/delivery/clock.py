"""The server owns time: a running attempt has a stored `deadline_at`; a paused or not yet started one has
`remaining_s`. Here: the time left, the deadline's submit, and the proctor's hand on the clock (pause,
resume, extend, force-submit, allow a move). Each verb locks the attempt, logs its step and commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.signals import attempt_submitted, submissions_committed
from exam_server.delivery import store
from exam_server.delivery.errors import DeliveryError
from exam_server.delivery.misconduct import misconduct_codes
from exam_server.delivery.models import CHECKED_IN, DONE, IN_PROGRESS, PAUSED, SUBMITTED, Attempt
from exam_server.delivery.queries import AttemptState
from exam_server.delivery.states import check_transition, move
from item_bank.db import utcnow
from item_bank.kernel import system_actor

log = logging.getLogger(__name__)

# Who submits an attempt whose time ran out: the server's clock, whichever path noticed it first.
DEADLINE_ACTOR = system_actor("deadline")
# Set on a session by a submit, until `announce_submissions` after its commit.
_SUBMITTED = "delivery.submitted"


class Clocked(Protocol):
    """What the clock reads of an attempt: an ORM attempt, a `queries.AttemptState` or a row."""

    status: str
    deadline_at: dt.datetime | None


class Remaining(Clocked, Protocol):
    remaining_s: float


def remaining_seconds(attempt: Remaining, now: dt.datetime | None = None) -> float:
    """Seconds left: from the deadline while running, else the stored remainder."""
    if attempt.status == IN_PROGRESS and attempt.deadline_at is not None:
        now = now or utcnow()
        return max(0.0, (attempt.deadline_at - now).total_seconds())
    if attempt.status in DONE:
        return 0.0
    return max(0.0, attempt.remaining_s)


def is_overdue(attempt: Clocked, now: dt.datetime) -> bool:
    """A running attempt whose deadline has passed (the sweeper may not have submitted it yet)."""
    return attempt.status == IN_PROGRESS and attempt.deadline_at is not None and now >= attempt.deadline_at


# ---------------------------------------------------------------- the sitting's rules (printed on the ticket)


def late_entry_cutoff(starts_at: dt.datetime, late_entry_min: int) -> dt.datetime:
    """The last moment 开始考试 is allowed without the proctor admitting the candidate late."""
    return starts_at + dt.timedelta(minutes=late_entry_min)


def deadline_at_start(
    *, timing: str, starts_at: dt.datetime, duration_s: int, remaining_s: float, extra_time_s: int,
    now: dt.datetime,
) -> dt.datetime:
    """The deadline of an attempt started `now`.

    "own_start": the stored remainder from now. "common" (the default): nobody runs past the sitting's end,
    so a late starter loses the minutes they missed; time a proctor added before the start (the remainder
    beyond the duration) still counts. An accommodation's extra time is added either way.
    """
    own = now + dt.timedelta(seconds=remaining_s)
    if timing != "common":
        return own + dt.timedelta(seconds=extra_time_s)
    common_end = starts_at + dt.timedelta(seconds=duration_s + max(0.0, remaining_s - duration_s))
    return min(own, common_end) + dt.timedelta(seconds=extra_time_s)


def submit_opens_at(
    *, timing: str, starts_at: dt.datetime, started_at: dt.datetime | None, min_submit_min: int
) -> dt.datetime | None:
    """When the candidate's own 交卷 becomes possible: `min_submit_min` after the sitting's start (common
    window) or after the candidate's own start (own timing); None before the attempt has started."""
    if started_at is None:
        return None
    base = starts_at if timing == "common" else started_at
    return base + dt.timedelta(minutes=min_submit_min)


def admit_late(session: Session, attempt: Attempt, actor: str, reason: str) -> Attempt:
    """The proctor lets a candidate start after the late-entry cut-off; the reason is required and logged."""
    if not reason.strip():
        raise DeliveryError("reason_required", "准许迟到考生入场必须填写原因。")
    attempt = store.lock_attempt(session, attempt.id) or attempt
    if attempt.status in DONE:
        raise DeliveryError("submitted", "该考生已交卷。")
    if attempt.late_admitted_at is None:
        attempt.late_admitted_at = utcnow()
        store.log_event(session, attempt, "admitted_late", actor, {"reason": reason}, at=attempt.late_admitted_at)
    session.commit()
    return attempt


# ---------------------------------------------------------------- submitting


def submit_locked(
    session: Session, attempt: Attempt, actor: str, reason: str, at: dt.datetime | None = None, note: str = "",
    misconduct: str = "",
) -> None:
    """Move a locked, running or paused attempt to submitted, in the caller's transaction.

    Nothing else is done in it: after the commit the caller calls `announce_submissions`, and scoring follows as
    a job (results/submitted.py, wired in exam_server/pipeline.py).
    """
    at = at or utcnow()
    payload = {"reason": reason, "note": note}
    if misconduct:
        payload["misconduct"] = misconduct
    move(session, attempt, "submit", SUBMITTED, actor, "submitted", payload, at=at)
    attempt.submitted_at = at
    attempt.submit_reason = reason
    attempt.submit_note = note[:300]
    attempt.misconduct_code = misconduct
    attempt.remaining_s = 0.0
    attempt.deadline_at = None
    session.info[_SUBMITTED] = True
    attempt_submitted.send(session, attempt_id=attempt.id, actor=actor)


def submit_state(session: Session, state: AttemptState, actor: str, reason: str, at: dt.datetime) -> None:
    """`submit_locked` for an attempt read as its state with the write lock (the candidate's 交卷, which a whole
    room does at once): the same columns and log entry, written by prepared statements instead of an ORM flush
    (a submit burst is that many of them back to back). Updates `state`; the caller commits."""
    check_transition("submit", state.status, SUBMITTED)
    changes: dict[str, object] = {
        "status": SUBMITTED, "submitted_at": at, "submit_reason": reason, "submit_note": "", "misconduct_code": "",
        "remaining_s": 0.0, "deadline_at": None,
    }
    store.log_row(session, state, "submitted", actor, {"reason": reason, "note": ""}, at, changes)
    store.update_attempt(session, state.id, changes)
    state.status, state.remaining_s, state.deadline_at = SUBMITTED, 0.0, None
    session.info[_SUBMITTED] = True
    attempt_submitted.send(session, attempt_id=state.id, actor=actor)


def announce_submissions(session: Session, *, recover: bool = False) -> None:
    """After a commit: if it submitted attempts, say so (`submissions_committed`), so their scoring is asked for;
    with `recover` (the sweep), whether or not it did, for whatever a crash or a failed job left unscored.

    Never raises: the submission is committed and acknowledged whatever happens here, and what is not scored
    now the server's sweep asks for again.
    """
    if not session.info.pop(_SUBMITTED, False) and not recover:
        return
    try:
        submissions_committed.send(session, recover=recover)
    except Exception:
        session.rollback()
        log.exception("asking for the scoring of submitted attempts failed; the sweep asks again")


def submit_at_deadline(session: Session, attempt: Attempt) -> None:
    """Submit a locked attempt whose time ran out, as of its deadline (not as of whoever noticed)."""
    submit_locked(session, attempt, actor=DEADLINE_ACTOR, reason="deadline", at=attempt.deadline_at)


def submit_overdue(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Submit every running attempt whose deadline has passed, as of its deadline; returns their ids."""
    now = now or utcnow()
    due = session.scalars(
        select(Attempt.id).where(Attempt.status == IN_PROGRESS, Attempt.deadline_at <= now).limit(500)
    ).all()
    session.rollback()
    done = []
    for attempt_id in due:
        attempt = store.lock_attempt(session, attempt_id)
        if attempt is not None and is_overdue(attempt, now):
            submit_at_deadline(session, attempt)
            session.commit()
            done.append(attempt_id)
        else:
            session.rollback()
    announce_submissions(session)
    return done


def force_submit(session: Session, attempt: Attempt, actor: str, reason: str, misconduct: str = "") -> Attempt:
    """A proctor submits a candidate's attempt; the reason is required and logged, with the misconduct (违纪)
    code if it is for misconduct (one of delivery/misconduct.json)."""
    if not reason.strip():
        raise DeliveryError("reason_required", "强制交卷必须填写原因。")
    if misconduct and misconduct not in misconduct_codes():
        raise DeliveryError("invalid_value", f"违纪类别 {misconduct} 不存在。")
    attempt = store.lock_attempt(session, attempt.id) or attempt
    if attempt.status in (IN_PROGRESS, PAUSED):
        submit_locked(session, attempt, actor=actor, reason="proctor", note=reason, misconduct=misconduct)
        session.commit()
        announce_submissions(session)
    return attempt


# ---------------------------------------------------------------- the clock under a proctor's hand


def pause(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Stop the clock: the remaining time is stored and the deadline cleared."""
    attempt = store.lock_attempt(session, attempt.id) or attempt
    now = utcnow()
    if is_overdue(attempt, now):
        submit_at_deadline(session, attempt)
        session.commit()
        announce_submissions(session)
        return attempt
    if attempt.status not in (IN_PROGRESS, CHECKED_IN):
        return attempt
    remaining = remaining_seconds(attempt, now)
    # Remember where to return to: a paused, never-started attempt resumes to checked_in.
    payload = {"reason": reason, "from": attempt.status, "remaining_s": remaining}
    move(session, attempt, "pause", PAUSED, actor, "paused", payload, at=now)
    attempt.remaining_s = remaining
    attempt.deadline_at = None
    session.commit()
    return attempt


def resume(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Restart the clock from the stored remaining time."""
    attempt = store.lock_attempt(session, attempt.id) or attempt
    if attempt.status != PAUSED:
        return attempt
    now = utcnow()
    back_to = (attempt.started_at and IN_PROGRESS) or CHECKED_IN
    move(session, attempt, "resume", back_to, actor, "resumed", {"reason": reason, "remaining_s": attempt.remaining_s},
         at=now)
    if back_to == IN_PROGRESS:
        attempt.deadline_at = now + dt.timedelta(seconds=attempt.remaining_s)
    session.commit()
    return attempt


def extend(session: Session, attempt: Attempt, actor: str, seconds: int, reason: str) -> Attempt:
    """Give extra time (延时); a reason is required and logged."""
    if not reason.strip():
        raise DeliveryError("reason_required", "延长时间必须填写原因。")
    if not 0 < seconds <= 4 * 3600:
        raise DeliveryError("invalid_value", "延长时间应在 1 秒到 4 小时之间。")
    attempt = store.lock_attempt(session, attempt.id) or attempt
    now = utcnow()
    if attempt.status in DONE or is_overdue(attempt, now):
        raise DeliveryError("submitted", "该考生已交卷，不能延长时间。")
    if attempt.status == IN_PROGRESS and attempt.deadline_at is not None:
        attempt.deadline_at = attempt.deadline_at + dt.timedelta(seconds=seconds)
    else:
        attempt.remaining_s += seconds
    store.log_event(session, attempt, "extended", actor, {"seconds": seconds, "reason": reason}, at=now)
    session.commit()
    return attempt


def give_back_outage(session: Session, since: dt.datetime, actor: str, reason: str) -> tuple[int, list[int]]:
    """Give every candidate whose clock was running when the server went down at `since` the time from then to now
    (a standby taking over a dead server): their deadline moves by it, logged as extra time with `reason`.
    A deadline that fell inside the outage is moved too — the candidate could not use those minutes. Paused clocks
    stood still and get nothing. Returns the seconds given and the attempts. Commits."""
    now = utcnow()
    seconds = math.ceil((now - since).total_seconds())
    if seconds <= 0:
        return 0, []
    ids = list(session.scalars(select(Attempt.id).where(Attempt.status == IN_PROGRESS, Attempt.deadline_at > since)))
    for attempt_id in ids:
        attempt = store.lock_attempt(session, attempt_id)
        if attempt is None or attempt.deadline_at is None:
            continue
        attempt.deadline_at = attempt.deadline_at + dt.timedelta(seconds=seconds)
        store.log_event(session, attempt, "extended", actor, {"seconds": seconds, "reason": reason}, at=now)
    session.commit()
    return seconds, ids


def allow_move(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Let the waiting workstation take over the attempt; the old one is closed."""
    attempt = store.lock_attempt(session, attempt.id) or attempt
    if attempt.pending_workstation:
        old = attempt.workstation
        attempt.workstation = attempt.pending_workstation
        attempt.pending_workstation = None
        store.log_event(session, attempt, "moved", actor, {"reason": reason, "from": (old or "")[:12],
                                                            "to": attempt.workstation[:12]})
    else:
        # Unlock: the next workstation to join takes over (the old one died before anyone asked).
        attempt.workstation = None
        store.log_event(session, attempt, "unlocked", actor, {"reason": reason})
    session.commit()
    return attempt
