"""Releasing a sitting's results to its candidates (a batch action per sitting, DESIGN.md §4).

A release cannot be premature: it is refused while any attempt of the sitting is still open (started and not
submitted, or not started while the sitting can still be sat), submitted but not scored, or any grading task
of the sitting unfinished; the refusal lists them. A partial release names its candidates (ticket numbers)
and needs a reason; only those candidates' blockers count. The count reported is the number of rows the
release changed, read back from the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from exam_server.delivery.models import CHECKED_IN, DONE, IN_PROGRESS, PAUSED, SCHEDULED, SUBMITTED, Attempt
from exam_server.grading.models import FINAL, GradingTask
from exam_server.results.errors import ResultsError
from exam_server.results.models import RELEASED, Result
from exam_server.results.outcomes import refresh_outcomes
from exam_server.results.scoring import record_missing_exemptions
from exam_server.sessions.models import Candidate, ExamSession, Ticket
from item_bank.audit import audit
from item_bank.db import transaction, utcnow
from scoring.results import PART_NAMES

ATTEMPT_WORDS = {SCHEDULED: "未开考", CHECKED_IN: "已签到未开考", IN_PROGRESS: "正在作答", PAUSED: "暂停中",
                 SUBMITTED: "已交卷未评分"}
TASK_WORDS = {"pending": "待分配", "assigned": "评阅中", "marked": "已评未定分", "agreed": "待定分",
              "needs_adjudication": "待仲裁"}
CHUNK = 1000
# Work of a sitting that a domain above results records and a release must wait for (the practical-skill
# stations' scores, skills/): each check returns (code, name, state) of what is open, for the candidates given
# (all when None). Registered at import by a module every process imports (app.JOB_MODULES).
ReleaseCheck = Callable[[Session, ExamSession, "set[int] | None"], list[tuple[str, str, str]]]
_RELEASE_CHECKS: dict[str, ReleaseCheck] = {}


def register_release_check(name: str, check: ReleaseCheck) -> None:
    """Make releases of every sitting also wait for what `check` finds open (idempotent per name)."""
    _RELEASE_CHECKS[name] = check


# How many blockers a refusal names in its message (all of them are in its details).
SHOWN = 20


@dataclass
class Blockers:
    """What stops a release: open attempts (ticket, name, state) and unfinished grading tasks (code, state)."""

    attempts: list[tuple[str, str, str]] = field(default_factory=list)
    tasks: list[tuple[str, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.attempts or self.tasks)

    def lines(self) -> list[str]:
        out = []
        if self.attempts:
            out.append(f"未结束的作答 {len(self.attempts)} 份：" + "、".join(
                f"{number} {name}（{state}）" for number, name, state in self.attempts[:SHOWN]
            ) + ("等" if len(self.attempts) > SHOWN else ""))
        if self.tasks:
            out.append(f"未完成的阅卷任务 {len(self.tasks)} 个：" + "、".join(
                f"{code}（{name}，{state}）" for code, name, state in self.tasks[:SHOWN]
            ) + ("等" if len(self.tasks) > SHOWN else ""))
        return out


def _latest_end(exam_session: ExamSession, extra_s: int) -> dt.datetime:
    # The last moment a not-yet-started candidate could still be sitting (their own start plus the duration
    # when each is timed from their start, plus their accommodation); after it they are absent (缺考).
    end = exam_session.ends_at
    if exam_session.timing == "own_start":
        end += dt.timedelta(seconds=exam_session.duration_s)
    return end + dt.timedelta(seconds=extra_s)


def release_blockers(
    session: Session, exam_session: ExamSession, candidate_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> Blockers:
    """The open attempts and unfinished grading tasks of the sitting (of `candidate_ids` only, if given)."""
    now = now or utcnow()
    wanted = None if candidate_ids is None else set(candidate_ids)
    blockers = Blockers()
    rows = session.execute(
        select(Attempt.id, Attempt.status, Attempt.candidate_id, Ticket.number, Ticket.extra_time_s, Candidate.name)
        .join(Ticket, Ticket.id == Attempt.ticket_id).join(Candidate, Candidate.id == Attempt.candidate_id)
        .where(Attempt.session_id == exam_session.id, Attempt.status.not_in(DONE[1:]), Ticket.status == "active")
        .order_by(Ticket.number)
    ).all()
    scored = set(session.scalars(
        select(Result.attempt_id).where(Result.session_id == exam_session.id, Result.superseded.is_(False),
                                        Result.attempt_id.is_not(None))
    ))
    for attempt_id, status, candidate_id, number, extra_s, name in rows:
        if wanted is not None and candidate_id not in wanted:
            continue
        if status in (SCHEDULED, CHECKED_IN) and now >= _latest_end(exam_session, extra_s or 0):
            continue  # absent (缺考): the sitting is over for them
        if status == SUBMITTED and attempt_id in scored:
            continue
        blockers.attempts.append((number, name, ATTEMPT_WORDS.get(status, status)))
    tasks = session.execute(
        select(GradingTask.code, GradingTask.status, GradingTask.kind, GradingTask.candidate_id, Candidate.name)
        .join(Candidate, Candidate.id == GradingTask.candidate_id)
        .where(GradingTask.session_id == exam_session.id, GradingTask.superseded.is_(False),
               GradingTask.status != FINAL)
        .order_by(GradingTask.code)
    ).all()
    for code, status, kind, candidate_id, name in tasks:
        if wanted is not None and candidate_id not in wanted:
            continue
        blockers.tasks.append((code, name, f"{PART_NAMES.get(kind, kind)}，{TASK_WORDS.get(status, status)}"))
    for check in _RELEASE_CHECKS.values():
        blockers.tasks.extend(check(session, exam_session, wanted))
    return blockers


@dataclass
class ReleaseReport:
    """What a release did: the rows it released (counted in the database) and whose they are."""

    session_code: str
    released: int = 0
    candidates: list[tuple[str, str]] = field(default_factory=list)  # (ticket number or "", name)
    partial: bool = False
    reason: str = ""

    def lines(self) -> list[str]:
        who = f"{len(self.candidates)} 名考生"
        kind = f"部分发布（{self.reason}）" if self.partial else "整场发布"
        out = [f"考试场次 {self.session_code}：{kind}，已发布 {self.released} 条成绩（{who}），考生登录后可以查看。"]
        if self.partial:
            out.append("发布的考生：" + "、".join(f"{number} {name}".strip() for number, name in self.candidates))
        return out


def release_candidates(session: Session, exam_session: ExamSession, numbers: Iterable[str]) -> dict[int, str]:
    """Candidate id → ticket number for ticket numbers of the sitting; ResultsError names any that are not."""
    wanted = [n.strip() for n in numbers if n and n.strip()]
    if not wanted:
        raise ResultsError("部分发布须列出考生的准考证号")
    found = dict(session.execute(
        select(Ticket.number, Ticket.candidate_id).where(Ticket.session_id == exam_session.id,
                                                         Ticket.number.in_(wanted))
    ).all())
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise ResultsError(f"准考证号不属于考试场次 {exam_session.code}：{'、'.join(unknown)}", unknown=unknown)
    return {found[n]: n for n in wanted}


def release_results(
    session: Session, session_id: int, actor: str, *, tickets: Iterable[str] | None = None, reason: str = "",
) -> ReleaseReport:
    """Release the current provisional results of a sitting (or, with `tickets`, of those candidates only, which
    needs `reason`); ResultsError lists what is still open. The exemptions decided at scheduling are recorded
    first, so an exempt candidate is never left without theirs. Commits."""
    exam_session = session.get(ExamSession, session_id)
    if exam_session is None:
        raise ResultsError(f"考试场次 {session_id} 不存在", status=404)
    partial = tickets is not None
    reason = (reason or "").strip()
    if partial and not reason:
        raise ResultsError("部分发布成绩必须填写原因")
    with transaction(session):
        numbers = release_candidates(session, exam_session, tickets or ()) if partial else None
        chosen = None if numbers is None else list(numbers)
        blockers = release_blockers(session, exam_session, chosen)
        if blockers:
            raise ResultsError(
                "还不能发布成绩：" + "；".join(blockers.lines()),
                attempts=[list(a) for a in blockers.attempts], tasks=[list(t) for t in blockers.tasks],
            )
        record_missing_exemptions(session, exam_session, actor, chosen)
        where = [Result.session_id == session_id, Result.superseded.is_(False), Result.status != RELEASED]
        if chosen is not None:
            where.append(Result.candidate_id.in_(chosen))
        rows = session.execute(select(Result.id, Result.candidate_id).where(*where)).all()
        ids = [rid for rid, _ in rows]
        candidate_ids = sorted({cid for _, cid in rows})
        now = utcnow()
        released = 0
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            session.execute(update(Result).where(Result.id.in_(chunk)).values(status=RELEASED, released_at=now),
                            execution_options={"synchronize_session": False})
            # Counted back from the rows themselves, so the report says what the results page will show.
            released += session.scalar(select(func.count()).select_from(Result).where(
                Result.id.in_(chunk), Result.status == RELEASED)) or 0
        session.expire_all()
        if not partial:
            exam_session.results_released_at = now
        refresh_outcomes(session, candidate_ids, exam_session.level, actor,
                         f"部分发布成绩：{reason}" if partial else "发布成绩")
        names = dict(session.execute(select(Candidate.id, Candidate.name).where(Candidate.id.in_(candidate_ids))).all()
                     ) if candidate_ids else {}
        ticket_of = numbers or dict(session.execute(
            select(Ticket.candidate_id, Ticket.number).where(Ticket.session_id == session_id)).all())
        report = ReleaseReport(exam_session.code, released=released, partial=partial, reason=reason,
                               candidates=[(ticket_of.get(cid, ""), names.get(cid, "")) for cid in candidate_ids])
        audit(session, actor, "release_results", "exam_session", session_id,
              after={"released": released, "partial": partial, "candidates": candidate_ids,
                     "tickets": [n for n, _ in report.candidates] if partial else None},
              reason=reason)
    return report
