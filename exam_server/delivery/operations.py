"""The verbs of exam delivery: prepare, check in, join, start, save, flag, submit, and the clock.

The server owns time: a running attempt has a stored `deadline_at`; a paused or not yet started
one has `remaining_s`. Every step is appended to the attempt's event log in the same transaction
as the change it makes, and a candidate's acknowledgement is only ever built after that commit.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exam_server.delivery.models import (
    CHECKED_IN,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    SCORED,
    SUBMITTED,
    Attempt,
    AttemptEvent,
    Response,
)
from exam_server.delivery.states import check_transition
from exam_server.sessions.models import ExamSession, Ticket
from item_bank.db import utcnow
from item_bank.models import FormItem, ItemSet, ItemVersion
from item_bank.types import ItemContent, item_type

# Stable error codes of the wire protocol (DESIGN.md §7) with the sentence the candidate reads.
MESSAGES = {
    "not_your_attempt": "这不是您的考试。",
    "not_in_progress": "考试当前不在进行中。",
    "not_started": "考试尚未开始。",
    "not_checked_in": "您尚未经监考员核验入场，请举手示意监考员。",
    "deadline_passed": "考试时间已到，答案已自动交卷，此次修改未被保存。",
    "paused": "考试已暂停，请等待监考员恢复考试。",
    "invalid_value": "答案格式不正确。",
    "unknown_item": "本试卷中没有这道题。",
    "moved": "您的考试已转移到另一台电脑上继续。",
    "awaiting_move": "您的考试正在另一台电脑上进行。请举手，监考员确认后才能在这台电脑上继续。",
    "submitted": "您已交卷。",
}


class DeliveryError(Exception):
    """A refusal the candidate's screen can show: a stable `code` and a Chinese `message`."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or MESSAGES.get(code, code))
        self.code = code
        self.message = message or MESSAGES.get(code, code)

    def ack(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, "message": self.message}


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


# ---------------------------------------------------------------- time


def remaining_seconds(attempt: Attempt, now: dt.datetime | None = None) -> float:
    """Seconds left: from the deadline while running, else the stored remainder."""
    if attempt.status == IN_PROGRESS and attempt.deadline_at is not None:
        now = now or utcnow()
        return max(0.0, (attempt.deadline_at - now).total_seconds())
    if attempt.status in (SUBMITTED, SCORED) or attempt.status == "finalised":
        return 0.0
    return max(0.0, attempt.remaining_s)


def _is_overdue(attempt: Attempt, now: dt.datetime) -> bool:
    return attempt.status == IN_PROGRESS and attempt.deadline_at is not None and now >= attempt.deadline_at


# ---------------------------------------------------------------- events


def _log(
    session: Session,
    attempt: Attempt,
    kind: str,
    actor: str,
    payload: dict[str, Any] | None = None,
    *,
    item_version_id: int | None = None,
    seq: int | None = None,
    key: str | None = None,
    at: dt.datetime | None = None,
) -> AttemptEvent:
    event = AttemptEvent(
        attempt_id=attempt.id,
        kind=kind,
        actor=actor,
        payload=payload or {},
        item_version_id=item_version_id,
        seq=seq,
        key=key,
        at=at or utcnow(),
    )
    session.add(event)
    return event


def _lock_attempt(session: Session, attempt_id: int) -> Attempt | None:
    """The attempt row, locked for this transaction on PostgreSQL (SQLite serialises writers itself)."""
    return session.get(Attempt, attempt_id, with_for_update=True, populate_existing=True)


def _previous_ack(session: Session, attempt_id: int, key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    return session.scalar(
        select(AttemptEvent.ack).where(AttemptEvent.attempt_id == attempt_id, AttemptEvent.key == key)
    )


# ---------------------------------------------------------------- preparing a session


def prepare_attempts(session: Session, exam_session: ExamSession, actor: str) -> int:
    """Create the attempt of every ticket of `exam_session` that has none yet; returns how many.

    Form, item order and option order are fixed here from a stored seed, so that starting an
    exam costs nothing and any candidate's screen can be reproduced.
    """
    from item_bank.forms import candidate_order

    forms = [sf.form for sf in exam_session.forms]
    if not forms:
        raise DeliveryError("no_forms", f"考试场次 {exam_session.code} 还没有指定试卷。")
    for form in forms:
        if form.status != "locked":
            raise DeliveryError("form_not_locked", f"试卷 {form.code} 尚未锁定，不能用于考试。")
    have = set(session.scalars(select(Attempt.ticket_id).where(Attempt.session_id == exam_session.id)))
    tickets = session.scalars(
        select(Ticket).where(Ticket.session_id == exam_session.id).order_by(Ticket.number)
    ).all()
    rng = random.SystemRandom()
    created = 0
    per_form: dict[int, int] = {}
    for index, ticket in enumerate(tickets):
        if ticket.id in have:
            continue
        form = forms[index % len(forms)]
        per_form[form.id] = per_form.get(form.id, 0) + 1
        seed = rng.randrange(1, 2**31 - 1)
        order, option_orders = candidate_order(form, seed)
        session.add(
            Attempt(
                ticket_id=ticket.id,
                session_id=exam_session.id,
                candidate_id=ticket.candidate_id,
                form_id=form.id,
                seed=seed,
                item_order=list(order),
                option_orders={str(k): v for k, v in option_orders.items()},
                remaining_s=float(exam_session.duration_s),
            )
        )
        created += 1
    session.flush()
    # Exposure: every candidate given a form sees each of its items once (assembly limits on it).
    for form_id, n in per_form.items():
        form_version_ids = select(FormItem.item_version_id).where(FormItem.form_id == form_id)
        session.execute(
            update(ItemVersion).where(ItemVersion.id.in_(form_version_ids))
            .values(exposure_count=ItemVersion.exposure_count + n)
        )
    from item_bank.audit import audit

    audit(session, actor, "prepare_attempts", "exam_session", exam_session.id,
          after={"created": created, "per_form": {str(k): v for k, v in per_form.items()}})
    session.commit()
    return created


def check_in(session: Session, attempt: Attempt, actor: str) -> Attempt:
    """Admit the candidate to their seat (the proctor has confirmed identity)."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    if attempt.status != SCHEDULED:
        return attempt
    check_transition("check_in", attempt.status, CHECKED_IN)
    attempt.status = CHECKED_IN
    attempt.checked_in_at = utcnow()
    _log(session, attempt, "checked_in", actor)
    session.commit()
    return attempt


# ---------------------------------------------------------------- what the candidate sees


@dataclass(frozen=True)
class _FrozenItem:
    item_version_id: int
    content: ItemContent
    points: float
    scoring_rule: str
    section: str
    # The shared stimulus of an item set (情景 / 案例): {"id", "title", "text", "media"}.
    stimulus: dict[str, Any] | None = None
    # The item as candidates see it, by option order: rendered once per process for a whole room
    # (it lives and dies with the cached form, and a locked form never changes).
    views: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def media_digests(self) -> set[str]:
        refs = list(self.content.media) + list((self.stimulus or {}).get("media") or [])
        return {str(m.get("sha256")) for m in refs if m.get("sha256")}


_FORM_CACHE: dict[tuple[str, int], dict[int, _FrozenItem]] = {}


def clear_form_cache() -> None:
    """Forget cached forms (only needed when a database is emptied and ids start again)."""
    _FORM_CACHE.clear()


def form_items(session: Session, form_id: int) -> dict[int, _FrozenItem]:
    """The form's items by version id. Locked forms never change, so they are cached per process."""
    cache_key = (str(session.get_bind().url), form_id)
    cached = _FORM_CACHE.get(cache_key)
    if cached is not None:
        return cached
    rows = session.execute(
        select(FormItem, ItemVersion, ItemSet)
        .join(ItemVersion, FormItem.item_version_id == ItemVersion.id)
        .outerjoin(ItemSet, ItemVersion.item_set_id == ItemSet.id)
        .where(FormItem.form_id == form_id)
    ).all()
    items = {
        version.id: _FrozenItem(
            item_version_id=version.id,
            content=ItemContent(
                type=version.type, stem=version.stem, content=version.content, key=version.key, points=fi.points,
                media=list(version.media or []),
            ),
            points=fi.points,
            scoring_rule=fi.scoring_rule,
            section=fi.section,
            stimulus=(
                {"id": item_set.id, "title": item_set.title, "text": item_set.stimulus,
                 "media": list(item_set.media or [])}
                if item_set is not None else None
            ),
        )
        for fi, version, item_set in rows
    }
    from item_bank.models import Form

    form = session.get(Form, form_id)
    if form is not None and form.status == "locked":
        _FORM_CACHE[cache_key] = items
    return items


def render_attempt(session: Session, attempt: Attempt, now: dt.datetime | None = None) -> dict[str, Any]:
    """`GET /api/attempt`: the items in the candidate's order, without any key, only while in progress."""
    now = now or utcnow()
    body: dict[str, Any] = {
        "attempt_id": attempt.id,
        "status": attempt.status,
        "remaining_s": round(remaining_seconds(attempt, now), 3),
        "server_now": iso(now),
        "items": [],
    }
    if attempt.status != IN_PROGRESS:
        return body
    items = form_items(session, attempt.form_id)
    rendered = []
    for number, version_id in enumerate(attempt.item_order, start=1):
        frozen = items[version_id]
        order = attempt.option_orders.get(str(version_id))
        base = frozen.views.get(tuple(order or ()))
        if base is None:
            base = item_type(frozen.content.type).render(frozen.content, order)
            base.update(item_id=version_id, points=frozen.points, section=frozen.section)
            frozen.views[tuple(order or ())] = base
        view = dict(base, number=number)
        if "media" in base:  # the image addresses are the attempt's own
            view["media"] = [dict(ref, url=media_url(attempt.id, ref["sha256"])) for ref in base["media"]]
        if frozen.stimulus is not None:
            view["stimulus"] = {
                "id": frozen.stimulus["id"], "title": frozen.stimulus["title"], "text": frozen.stimulus["text"],
                "media": [{"name": m.get("name", ""), "url": media_url(attempt.id, str(m.get("sha256")))}
                          for m in frozen.stimulus["media"] if m.get("sha256")],
            }
        rendered.append(view)
    body["items"] = rendered
    return body


def media_url(attempt_id: int, digest: str) -> str:
    return f"/api/attempts/{attempt_id}/media/{digest}"


def attempt_may_show(session: Session, attempt: Attempt, digest: str) -> bool:
    """True when the image `digest` belongs to an item of this attempt's form and the attempt is running."""
    if attempt.status != IN_PROGRESS:
        return False
    return any(digest in frozen.media_digests for frozen in form_items(session, attempt.form_id).values())


def answers_of(session: Session, attempt_id: int) -> tuple[dict[str, Any], list[int]]:
    """The acknowledged answers {item_id: {value, seq, saved_at}} and the flagged item ids."""
    answers: dict[str, Any] = {}
    flags: list[int] = []
    for r in session.scalars(select(Response).where(Response.attempt_id == attempt_id)):
        if r.seq:
            answers[str(r.item_version_id)] = {"value": r.value, "seq": r.seq, "saved_at": iso(r.saved_at)}
        if r.flagged:
            flags.append(r.item_version_id)
    return answers, sorted(flags)


JOIN_TOUCH_S = 60.0


def join(session: Session, attempt: Attempt, workstation: str, actor: str) -> dict[str, Any]:
    """A workstation opens the attempt: its state, acknowledged answers and flags.

    One workstation at a time: a different one is held (`awaiting_move`) until a proctor allows it.
    """
    attempt = _lock_attempt(session, attempt.id) or attempt
    now = utcnow()
    if _is_overdue(attempt, now):
        _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
    active = attempt.status in (CHECKED_IN, IN_PROGRESS, PAUSED)
    if active and attempt.workstation and attempt.workstation != workstation:
        if attempt.pending_workstation != workstation:
            attempt.pending_workstation = workstation
            _log(session, attempt, "move_requested", actor, {"workstation": workstation[:12]})
        session.commit()
        raise DeliveryError("awaiting_move")
    if active and attempt.workstation != workstation:
        attempt.workstation = workstation
        _log(session, attempt, "workstation", actor, {"workstation": workstation[:12]})
    # A rejoin (a reconnect after a network blip or a server restart) only refreshes a stale activity
    # time: a whole room rejoining at once then costs reads, not one disk sync per candidate.
    if attempt.last_activity_at is None or (now - attempt.last_activity_at).total_seconds() > JOIN_TOUCH_S:
        attempt.last_activity_at = now
    session.commit()
    answers, flags = answers_of(session, attempt.id)
    return {
        "ok": True,
        "attempt_id": attempt.id,
        "status": attempt.status,
        "remaining_s": round(remaining_seconds(attempt, now), 3),
        "duration_s": attempt.session.duration_s,
        "server_now": iso(now),
        "last_seq": attempt.last_seq,
        "answers": answers,
        "flags": flags,
    }


def _require_workstation(attempt: Attempt, workstation: str | None) -> None:
    if workstation is not None and attempt.workstation and attempt.workstation != workstation:
        raise DeliveryError("moved")


def start(session: Session, attempt: Attempt, actor: str, workstation: str | None = None) -> dict[str, Any]:
    """The candidate has read the instructions: start the clock (a repeat is harmless)."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    _require_workstation(attempt, workstation)
    now = utcnow()
    if attempt.status == SCHEDULED:
        raise DeliveryError("not_checked_in")
    if attempt.status == CHECKED_IN:
        if attempt.session.starts_at > now:
            raise DeliveryError("not_started", f"考试将于 {attempt.session.starts_at:%H:%M} (UTC) 开始，请稍候。")
        check_transition("start", attempt.status, IN_PROGRESS)
        if workstation and not attempt.workstation:
            # Joined while not yet admitted (no workstation was claimed then): this one claims it now,
            # so a second login elsewhere is held until a proctor allows the move.
            attempt.workstation = workstation
            _log(session, attempt, "workstation", actor, {"workstation": workstation[:12]}, at=now)
        attempt.status = IN_PROGRESS
        attempt.started_at = now
        attempt.deadline_at = now + dt.timedelta(seconds=attempt.remaining_s)
        attempt.last_activity_at = now
        _log(session, attempt, "started", actor, {"deadline_at": iso(attempt.deadline_at)}, at=now)
        session.commit()
    elif _is_overdue(attempt, now):
        _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
        session.commit()
    return {"ok": True, "status": attempt.status, "remaining_s": round(remaining_seconds(attempt, now), 3)}


# ---------------------------------------------------------------- answers


def _check_writable(session: Session, attempt: Attempt, now: dt.datetime) -> None:
    if _is_overdue(attempt, now):
        # The clock ran out before this write arrived: the attempt is submitted as of its deadline.
        _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
        session.commit()
        raise DeliveryError("deadline_passed")
    if attempt.status == PAUSED:
        raise DeliveryError("paused")
    if attempt.status in (SUBMITTED, SCORED, "finalised"):
        raise DeliveryError("submitted")
    if attempt.status != IN_PROGRESS:
        raise DeliveryError("not_in_progress")


def _attempt_for(session: Session, attempt_id: Any, candidate_id: int) -> Attempt:
    if not isinstance(attempt_id, int):
        raise DeliveryError("not_your_attempt")
    attempt = _lock_attempt(session, attempt_id)
    if attempt is None or attempt.candidate_id != candidate_id:
        raise DeliveryError("not_your_attempt")
    return attempt


def _remember(session: Session, event: AttemptEvent, ack: dict[str, Any]) -> dict[str, Any]:
    """Commit the step with its acknowledgement; a concurrent resend of the same key gets the first ack."""
    event.ack = ack
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        previous = _previous_ack(session, event.attempt_id, event.key)
        if previous is None:
            raise
        return previous
    return ack


@dataclass
class _ItemStep:
    """An answer or flag change that passed the checks shared by both, with the response row it changes."""

    attempt: Attempt
    response: Response
    now: dt.datetime


def _begin_item_step(
    session: Session, candidate_id: int, attempt_id: Any, item_id: Any, seq: Any, key: str | None,
    workstation: str | None,
) -> _ItemStep | dict[str, Any]:
    """Lock the attempt and check a save or flag; a repeated `key` returns its first acknowledgement."""
    attempt = _attempt_for(session, attempt_id, candidate_id)
    previous = _previous_ack(session, attempt.id, key)
    if previous is not None:
        return previous
    _require_workstation(attempt, workstation)
    now = utcnow()
    _check_writable(session, attempt, now)
    if not isinstance(seq, int) or seq < 1 or not isinstance(key, str) or not key or len(key) > 80:
        raise DeliveryError("invalid_value", "请求缺少序号或幂等键。")
    if not isinstance(item_id, int) or item_id not in attempt.item_order:
        raise DeliveryError("unknown_item")
    response = session.scalar(
        select(Response).where(Response.attempt_id == attempt.id, Response.item_version_id == item_id)
    )
    if response is None:
        response = Response(attempt_id=attempt.id, item_version_id=item_id, seq=0, flag_seq=0, flagged=False)
        session.add(response)
    attempt.last_seq = max(attempt.last_seq, seq)
    attempt.last_activity_at = now
    return _ItemStep(attempt, response, now)


def save_answer(
    session: Session,
    candidate_id: int,
    attempt_id: Any,
    item_id: Any,
    value: Any,
    seq: Any,
    key: str | None,
    workstation: str | None = None,
) -> dict[str, Any]:
    """Store one answer change; returns the acknowledgement (built only after the commit).

    The response keeps the value with the highest `seq`; a lower one is logged and acknowledged
    without being applied. The same `key` always gets the same acknowledgement.
    """
    try:
        step = _begin_item_step(session, candidate_id, attempt_id, item_id, seq, key, workstation)
        if isinstance(step, dict):
            return step
        frozen = form_items(session, step.attempt.form_id)[item_id]
        kind = item_type(frozen.content.type)
        reason = kind.check_value(frozen.content, value)
        if reason:
            raise DeliveryError("invalid_value", f"答案格式不正确：{reason}")
        response = step.response
        applied = seq > response.seq
        if applied:
            was_answered = response.seq > 0 and kind.is_answered(response.value)
            response.value, response.seq, response.saved_at = value, seq, step.now
            step.attempt.answered_count += int(kind.is_answered(value)) - int(was_answered)
        event = _log(
            session, step.attempt, "save", "candidate", {"value": value, "applied": applied},
            item_version_id=item_id, seq=seq, key=key, at=step.now,
        )
        return _remember(session, event, {"ok": True, "seq": seq, "saved_at": iso(step.now)})
    except DeliveryError as exc:
        session.rollback()
        return exc.ack()


def set_flag(
    session: Session,
    candidate_id: int,
    attempt_id: Any,
    item_id: Any,
    flagged: Any,
    seq: Any,
    key: str | None,
    workstation: str | None = None,
) -> dict[str, Any]:
    """Mark or unmark an item for review (标记); same ordering and idempotency rules as a save."""
    try:
        step = _begin_item_step(session, candidate_id, attempt_id, item_id, seq, key, workstation)
        if isinstance(step, dict):
            return step
        applied = seq > step.response.flag_seq
        if applied:
            step.response.flagged, step.response.flag_seq = bool(flagged), seq
        event = _log(
            session, step.attempt, "flag", "candidate", {"flagged": bool(flagged), "applied": applied},
            item_version_id=item_id, seq=seq, key=key, at=step.now,
        )
        return _remember(session, event, {"ok": True, "seq": seq, "flagged": bool(flagged)})
    except DeliveryError as exc:
        session.rollback()
        return exc.ack()


# ---------------------------------------------------------------- submitting


def _submit_locked(
    session: Session, attempt: Attempt, actor: str, reason: str, at: dt.datetime | None = None, note: str = ""
) -> None:
    """Move a locked, running or paused attempt to submitted and score it (same transaction)."""
    from exam_server.results.operations import score_attempt

    check_transition("submit", attempt.status, SUBMITTED)
    at = at or utcnow()
    attempt.status = SUBMITTED
    attempt.submitted_at = at
    attempt.submit_reason = reason
    attempt.remaining_s = remaining_seconds(attempt, at) if reason != "deadline" else 0.0
    attempt.deadline_at = None
    _log(session, attempt, "submitted", actor, {"reason": reason, "note": note}, at=at)
    score_attempt(session, attempt, actor="server")


def submit(
    session: Session, candidate_id: int, attempt_id: Any, key: str | None, workstation: str | None = None
) -> dict[str, Any]:
    """The candidate submits (交卷). A repeat, or a submit after the deadline did it, is acknowledged."""
    try:
        attempt = _attempt_for(session, attempt_id, candidate_id)
        previous = _previous_ack(session, attempt.id, key)
        if previous is not None:
            return previous
        _require_workstation(attempt, workstation)
        now = utcnow()
        if _is_overdue(attempt, now):
            _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
        elif attempt.status in (IN_PROGRESS, PAUSED):
            _submit_locked(session, attempt, actor="candidate", reason="candidate", at=now)
        elif attempt.status not in (SUBMITTED, SCORED, "finalised"):
            raise DeliveryError("not_in_progress")
        event = _log(session, attempt, "submit_ack", "candidate", {}, key=key, at=now)
        return _remember(session, event, {"ok": True, "status": attempt.status})
    except DeliveryError as exc:
        session.rollback()
        return exc.ack()


def force_submit(session: Session, attempt: Attempt, actor: str, reason: str) -> Attempt:
    """A proctor submits a candidate's attempt; the reason is required and logged."""
    if not reason.strip():
        raise DeliveryError("reason_required", "强制交卷必须填写原因。")
    attempt = _lock_attempt(session, attempt.id) or attempt
    if attempt.status in (IN_PROGRESS, PAUSED):
        _submit_locked(session, attempt, actor=actor, reason="proctor", note=reason)
        session.commit()
    return attempt


def submit_overdue(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Submit every running attempt whose deadline has passed, as of its deadline; returns their ids."""
    now = now or utcnow()
    due = session.scalars(
        select(Attempt.id).where(Attempt.status == IN_PROGRESS, Attempt.deadline_at <= now).limit(500)
    ).all()
    session.rollback()
    done = []
    for attempt_id in due:
        attempt = _lock_attempt(session, attempt_id)
        if attempt is not None and _is_overdue(attempt, now):
            _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
            session.commit()
            done.append(attempt_id)
        else:
            session.rollback()
    return done


# ---------------------------------------------------------------- the clock under a proctor's hand


def pause(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Stop the clock: the remaining time is stored and the deadline cleared."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    now = utcnow()
    if _is_overdue(attempt, now):
        _submit_locked(session, attempt, actor="server", reason="deadline", at=attempt.deadline_at)
        session.commit()
        return attempt
    if attempt.status not in (IN_PROGRESS, CHECKED_IN):
        return attempt
    check_transition("pause", attempt.status, PAUSED)
    attempt.remaining_s = remaining_seconds(attempt, now)
    attempt.deadline_at = None
    # Remember where to return to: a paused, never-started attempt resumes to checked_in.
    _log(session, attempt, "paused", actor, {"reason": reason, "from": attempt.status,
                                              "remaining_s": attempt.remaining_s}, at=now)
    attempt.status = PAUSED
    session.commit()
    return attempt


def resume(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Restart the clock from the stored remaining time."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    if attempt.status != PAUSED:
        return attempt
    now = utcnow()
    back_to = (attempt.started_at and IN_PROGRESS) or CHECKED_IN
    check_transition("resume", attempt.status, back_to)
    attempt.status = back_to
    if back_to == IN_PROGRESS:
        attempt.deadline_at = now + dt.timedelta(seconds=attempt.remaining_s)
    _log(session, attempt, "resumed", actor, {"reason": reason, "remaining_s": attempt.remaining_s}, at=now)
    session.commit()
    return attempt


def extend(session: Session, attempt: Attempt, actor: str, seconds: int, reason: str) -> Attempt:
    """Give extra time (延时); a reason is required and logged."""
    if not reason.strip():
        raise DeliveryError("reason_required", "延长时间必须填写原因。")
    if not 0 < seconds <= 4 * 3600:
        raise DeliveryError("invalid_value", "延长时间应在 1 秒到 4 小时之间。")
    attempt = _lock_attempt(session, attempt.id) or attempt
    now = utcnow()
    if attempt.status in (SUBMITTED, SCORED, "finalised") or _is_overdue(attempt, now):
        raise DeliveryError("submitted", "该考生已交卷，不能延长时间。")
    if attempt.status == IN_PROGRESS and attempt.deadline_at is not None:
        attempt.deadline_at = attempt.deadline_at + dt.timedelta(seconds=seconds)
    else:
        attempt.remaining_s += seconds
    _log(session, attempt, "extended", actor, {"seconds": seconds, "reason": reason}, at=now)
    session.commit()
    return attempt


def allow_move(session: Session, attempt: Attempt, actor: str, reason: str = "") -> Attempt:
    """Let the waiting workstation take over the attempt; the old one is closed."""
    attempt = _lock_attempt(session, attempt.id) or attempt
    if attempt.pending_workstation:
        old = attempt.workstation
        attempt.workstation = attempt.pending_workstation
        attempt.pending_workstation = None
        _log(session, attempt, "moved", actor, {"reason": reason, "from": (old or "")[:12],
                                                 "to": attempt.workstation[:12]})
    else:
        # Unlock: the next workstation to join takes over (the old one died before anyone asked).
        attempt.workstation = None
        _log(session, attempt, "unlocked", actor, {"reason": reason})
    session.commit()
    return attempt


def touch_answered_counts(session: Session, attempt_ids: list[int]) -> None:
    """Recount answered items (used after a reopen or a data repair)."""
    for attempt_id in attempt_ids:
        count = 0
        attempt = session.get(Attempt, attempt_id)
        if attempt is None:
            continue
        items = form_items(session, attempt.form_id)
        for r in session.scalars(select(Response).where(Response.attempt_id == attempt_id)):
            if r.item_version_id in items and item_type(items[r.item_version_id].content.type).is_answered(r.value):
                count += 1
        session.execute(update(Attempt).where(Attempt.id == attempt_id).values(answered_count=count))
    session.commit()
