"""Replaying an attempt's append-only log into what the candidate's screen showed at a moment.

`replay` is pure: it folds the events (in the order they were committed, up to a time) into the
status, the clock, the workstation, and every item's answer and flag. `examctl attempt-log` and the
console's log page print it; a test checks that replaying the whole log gives the stored responses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.timefmt import DISPLAY_ZONE, iso, local
from exam_server.delivery.models import (
    CHECKED_IN,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    SUBMITTED,
    Attempt,
    AttemptEvent,
)
from exam_server.delivery.paper import form_items
from exam_server.proctoring.operations import INCIDENT_CATEGORIES
from item_bank.types import short_labels

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SCREENS = {
    SCHEDULED: "等待入场核验",
    CHECKED_IN: "考生须知（尚未开始答题）",
    IN_PROGRESS: "答题中",
    PAUSED: "考试已暂停",
    SUBMITTED: "已交卷",
}
KIND_LABELS = {
    "checked_in": "核验入场", "workstation": "登录工作站", "move_requested": "另一台电脑请求继续",
    "started": "开始答题", "save": "保存答案", "flag": "标记", "paused": "暂停", "resumed": "恢复",
    "extended": "延长时间", "submitted": "交卷", "submit_ack": "交卷确认", "moved": "允许换机",
    "unlocked": "解除工作站锁定", "incident": "事件记录", "announcement": "考场通知",
}
TYPE_LABELS = short_labels()
SUBMIT_REASONS = {"candidate": "考生交卷", "deadline": "时间到自动交卷", "proctor": "监考员强制交卷"}


class EventLike(Protocol):
    at: dt.datetime
    kind: str
    actor: str
    item_version_id: int | None
    seq: int | None
    payload: dict[str, Any]


@dataclass
class Screen:
    """What the candidate's screen showed at `at`."""

    at: dt.datetime
    status: str = SCHEDULED
    remaining_s: float = 0.0
    deadline_at: dt.datetime | None = None
    started: bool = False
    workstation: str | None = None
    pending_move: bool = False
    closed_workstations: list[str] = field(default_factory=list)
    announcement: str | None = None
    answers: dict[int, Any] = field(default_factory=dict)
    flags: set[int] = field(default_factory=set)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    submit_reason: str = ""
    events: int = 0

    @property
    def screen(self) -> str:
        return SCREENS.get(self.status, self.status)


def _parse_iso(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def replay(events: Iterable[EventLike], duration_s: float, at: dt.datetime | None = None) -> Screen:
    """Fold `events` (in commit order) that happened at or before `at` into the screen at `at`."""
    at = _aware(at) if at is not None else None
    state = Screen(at=at or dt.datetime.now(dt.UTC), remaining_s=float(duration_s))
    for event in events:
        when = _aware(event.at)
        if at is not None and when > at:
            continue
        state.events += 1
        _apply(state, event, when)
    if state.status == IN_PROGRESS and state.deadline_at is not None:
        state.remaining_s = max(0.0, (state.deadline_at - state.at).total_seconds())
    elif state.status == SUBMITTED:
        state.remaining_s = 0.0 if state.submit_reason == "deadline" else state.remaining_s
    return state


def _apply(state: Screen, event: EventLike, when: dt.datetime) -> None:
    kind, payload = event.kind, event.payload or {}
    if kind == "checked_in" and state.status == SCHEDULED:
        state.status = CHECKED_IN
    elif kind == "workstation":
        state.workstation = payload.get("workstation")
    elif kind == "move_requested":
        state.pending_move = True
    elif kind == "moved":
        if state.workstation:
            state.closed_workstations.append(state.workstation)
        state.workstation, state.pending_move = payload.get("to"), False
    elif kind == "unlocked":
        state.workstation = None
    elif kind == "started":
        state.status, state.started = IN_PROGRESS, True
        state.deadline_at = _parse_iso(payload.get("deadline_at")) or when + dt.timedelta(seconds=state.remaining_s)
    elif kind == "save" and payload.get("applied") and event.item_version_id is not None:
        state.answers[event.item_version_id] = payload.get("value")
    elif kind == "flag" and payload.get("applied") and event.item_version_id is not None:
        if payload.get("flagged"):
            state.flags.add(event.item_version_id)
        else:
            state.flags.discard(event.item_version_id)
    elif kind == "paused":
        if state.status == IN_PROGRESS and state.deadline_at is not None:
            state.remaining_s = max(0.0, (state.deadline_at - when).total_seconds())
        if isinstance(payload.get("remaining_s"), int | float):
            state.remaining_s = float(payload["remaining_s"])
        state.status, state.deadline_at = PAUSED, None
    elif kind == "resumed" and state.status == PAUSED:
        state.status = IN_PROGRESS if state.started else CHECKED_IN
        if state.status == IN_PROGRESS:
            state.deadline_at = when + dt.timedelta(seconds=state.remaining_s)
    elif kind == "extended":
        seconds = float(payload.get("seconds") or 0)
        if state.status == IN_PROGRESS and state.deadline_at is not None:
            state.deadline_at += dt.timedelta(seconds=seconds)
        else:
            state.remaining_s += seconds
    elif kind == "submitted":
        if state.status == IN_PROGRESS and state.deadline_at is not None:
            state.remaining_s = max(0.0, (state.deadline_at - when).total_seconds())
        state.status, state.deadline_at = SUBMITTED, None
        state.submit_reason = str(payload.get("reason") or "")
    elif kind == "announcement":
        state.announcement = payload.get("text")
    elif kind == "incident":
        state.incidents.append({"at": when, "actor": event.actor, **payload})


# ---------------------------------------------------------------- from the database


def attempt_events(session: Session, attempt_id: int) -> list[AttemptEvent]:
    """The attempt's whole log in commit order."""
    return list(session.scalars(
        select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id).order_by(AttemptEvent.id)
    ))


def replay_attempt(session: Session, attempt: Attempt, at: dt.datetime | None = None) -> Screen:
    return replay(attempt_events(session, attempt.id), attempt.session.duration_s, at)


def question_numbers(attempt: Attempt) -> dict[int, int]:
    """Item id → the question number the candidate saw."""
    return {item_id: number for number, item_id in enumerate(attempt.item_order, start=1)}


def shown_letters(value: Any, option_order: list[str] | None) -> str:
    """A stored choice value ('AC') as the letters the candidate saw (options may be shuffled)."""
    if not isinstance(value, str) or not option_order:
        return ""
    return "".join(sorted(LETTERS[option_order.index(ch)] for ch in value if ch in option_order))


def screen_items(session: Session, attempt: Attempt, screen: Screen) -> list[dict[str, Any]]:
    """Each item in the candidate's order with the answer and flag the screen showed."""
    items = form_items(session, attempt.form_id)
    rows = []
    for number, item_id in enumerate(attempt.item_order, start=1):
        frozen = items.get(item_id)
        value = screen.answers.get(item_id)
        order = attempt.option_orders.get(str(item_id))
        rows.append({
            "number": number, "item_id": item_id, "type": frozen.content.type if frozen else "",
            "value": value, "shown": shown_letters(value, order), "flagged": item_id in screen.flags,
        })
    return rows


def parse_moment(text: str, day: dt.date) -> dt.datetime:
    """`--at`: an ISO time (without a zone it is Beijing time), or HH:MM[:SS] Beijing time on `day`."""
    text = text.strip()
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            clock = dt.datetime.strptime(text, fmt).time()
        except ValueError:
            continue
        return dt.datetime.combine(day, clock, tzinfo=DISPLAY_ZONE).astimezone(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"无法识别的时间：{text}（例如 10:15:30 或 2026-05-01T10:15:30）") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=DISPLAY_ZONE)
    return parsed.astimezone(dt.UTC)


def describe(event: EventLike, numbers: dict[int, int] | None = None) -> str:
    """One line of the log in words; `numbers` maps item ids to the question numbers on the screen."""
    p = event.payload or {}
    label = KIND_LABELS.get(event.kind, event.kind)
    item = event.item_version_id
    where = f"第 {numbers[item]} 题" if numbers and item in numbers else f"题 {item}"
    if event.kind == "save":
        return f"{label} {where} = {p.get('value')!r}（序号 {event.seq}）" + (
            "" if p.get("applied") else "，序号较旧，未采用")
    if event.kind == "flag":
        return f"{label} {where} {'标记' if p.get('flagged') else '取消标记'}"
    if event.kind == "extended":
        return f"{label} {int(p.get('seconds', 0)) // 60} 分钟：{p.get('reason', '')}"
    if event.kind == "submitted":
        return f"{label}（{SUBMIT_REASONS.get(p.get('reason', ''), p.get('reason', ''))}）{p.get('note', '')}"
    if event.kind == "incident":
        return f"{label} [{INCIDENT_CATEGORIES.get(p.get('category', ''), p.get('category'))}] {p.get('reason', '')}"
    if event.kind == "announcement":
        return f"{label}：{p.get('text', '')}"
    if event.kind in ("paused", "resumed", "moved", "unlocked") and p.get("reason"):
        return f"{label}：{p['reason']}"
    return label


def format_clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def render_text(session: Session, attempt: Attempt, at: dt.datetime | None = None) -> str:
    """The log up to `at` and the replayed screen, as printed by `examctl attempt-log`."""
    events = attempt_events(session, attempt.id)
    screen = replay(events, attempt.session.duration_s, at)
    lines = [
        f"作答记录 {attempt.id}　准考证号 {attempt.ticket.number}　{attempt.candidate.name}　"
        f"场次 {attempt.session.code}",
        "",
        "日志（北京时间）:",
    ]
    numbers = question_numbers(attempt)
    for event in events:
        if at is not None and _aware(event.at) > _aware(at):
            break
        lines.append(f"  {local(event.at, '%Y-%m-%d %H:%M:%S')}  {event.actor:<24} {describe(event, numbers)}")
    items = screen_items(session, attempt, screen)
    answered = sum(1 for r in items if r["value"] not in (None, "", []))
    lines += [
        "",
        f"屏幕（{local(screen.at, '%Y-%m-%d %H:%M:%S')}）: {screen.screen}"
        + ("；另一台电脑正在等待换机" if screen.pending_move else ""),
        f"  剩余时间 {format_clock(screen.remaining_s)}　已答 {answered} / {len(items)} 题　标记 {len(screen.flags)} 题",
    ]
    if screen.submit_reason:
        lines.append(f"  交卷方式：{SUBMIT_REASONS.get(screen.submit_reason, screen.submit_reason)}")
    if screen.announcement:
        lines.append(f"  考场通知：{screen.announcement}")
    if screen.closed_workstations:
        lines.append(f"  已关闭的工作站：{', '.join(screen.closed_workstations)}（屏幕显示“本机考试已关闭”）")
    for row in items:
        value = row["value"]
        shown = f"（屏幕上为 {row['shown']}）" if row["shown"] and row["shown"] != value else ""
        text = "未作答" if value in (None, "", []) else f"{value}{shown}"
        lines.append(f"  第 {row['number']:>3} 题 [{TYPE_LABELS.get(row['type'], row['type'])}] {text}"
                     + ("  ⚑标记" if row["flagged"] else ""))
    return "\n".join(lines)


def screen_as_dict(session: Session, attempt: Attempt, screen: Screen) -> dict[str, Any]:
    return {
        "attempt_id": attempt.id, "at": iso(screen.at), "status": screen.status, "screen": screen.screen,
        "remaining_s": round(screen.remaining_s, 1), "pending_move": screen.pending_move,
        "workstation": screen.workstation, "closed_workstations": screen.closed_workstations,
        "announcement": screen.announcement, "submit_reason": screen.submit_reason,
        "incidents": [{**i, "at": iso(i["at"])} for i in screen.incidents],
        "items": screen_items(session, attempt, screen), "events": screen.events,
    }
