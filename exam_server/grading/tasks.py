"""Where grading tasks come from: the items people grade on a submitted attempt, a paper sitter's scanned
answer sheets, a level 2-1 candidate's thesis and defence, and a review's (复核) new round of marking.

A task is created `pending` with the tolerance and final-mark rule its sitting's blueprint states, and a
fresh anonymous code: graders only ever see the code.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.delivery.models import Attempt
from exam_server.grading.errors import GradingError
from exam_server.grading.models import (
    DEFENCE,
    FINAL,
    ITEM,
    PENDING,
    SCAN,
    THESIS,
    GradingDocument,
    GradingTask,
)
from exam_server.grading.rubrics import current_rubric
from exam_server.grading.rules import rules_of
from exam_server.sessions.models import ExamSession, Ticket
from item_bank.audit import audit
from item_bank.db import transaction
from item_bank.models import FormItem, ItemVersion
from item_bank.types import item_type

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed
SCAN_MIMES = {"application/pdf", "image/png", "image/jpeg"}
THESIS_MIMES = {"application/pdf", "text/plain"}
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class GradedItem(Protocol):
    """An item of a paper people grade: what a task is created for (results' `HumanItem` is one)."""

    @property
    def version_id(self) -> int: ...
    @property
    def points(self) -> float: ...
    @property
    def type(self) -> str: ...


class PaperItem(NamedTuple):
    version_id: int
    points: float
    type: str


class ResultRef(Protocol):
    """The result a review asks to have marked again (results' `Result`)."""

    @property
    def attempt_id(self) -> int | None: ...
    @property
    def session_id(self) -> int | None: ...
    @property
    def candidate_id(self) -> int: ...
    @property
    def part(self) -> str: ...


def new_codes(session: Session, n: int) -> list[str]:
    """`n` fresh anonymous task codes such as "K7QM-3XRA", none in use."""
    codes: set[str] = set()
    while len(codes) < n:
        want = n - len(codes)
        batch = {
            "".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) + "-"
            + "".join(secrets.choice(CODE_ALPHABET) for _ in range(4))
            for _ in range(want)
        }
        taken = set(session.scalars(select(GradingTask.code).where(GradingTask.code.in_(list(batch)))))
        codes |= batch - taken
    return sorted(codes)[:n]


def ensure_item_tasks(
    session: Session,
    exam_session: ExamSession,
    attempt_id: int,
    candidate_id: int,
    human_items: Iterable[GradedItem],
    actor: str,
    kind: str = ITEM,
) -> list[GradingTask]:
    """Create the grading task of each human-graded item of an attempt that has none yet (flushes).

    The tolerance and final-mark rule come from the session's blueprint and are copied onto the task.
    """
    items = list(human_items)
    if not items:
        return []
    have = set(session.scalars(
        select(GradingTask.item_version_id).where(
            GradingTask.attempt_id == attempt_id, GradingTask.superseded.is_(False)
        )
    ))
    todo = [h for h in items if h.version_id not in have]
    if not todo:
        return []
    rules = rules_of(exam_session)
    codes = new_codes(session, len(todo))
    created = []
    for code, h in zip(codes, todo, strict=True):
        task = GradingTask(
            code=code, session_id=exam_session.id, candidate_id=candidate_id, attempt_id=attempt_id,
            level=exam_session.level, part=exam_session.part, kind=kind, item_version_id=h.version_id,
            title=f"{item_type(h.type).label}（{h.points:g} 分）", max_points=h.points,
            tolerance=rules.tolerance_for(h.points), final_rule=rules.final_rule, status=PENDING,
        )
        session.add(task)
        created.append(task)
    session.flush()
    for task in created:
        audit(session, actor, "grading.create", "grading_task", task.id,
              after={"code": task.code, "kind": kind, "attempt_id": attempt_id, "item_version_id": task.item_version_id})
    return created


def paper_items(session: Session, form_id: int) -> tuple[list[PaperItem], int]:
    """The items of a form people grade (by version id), and how many of its items a rule scores."""
    rows = session.execute(
        select(FormItem.item_version_id, FormItem.points, ItemVersion.type)
        .join(ItemVersion, FormItem.item_version_id == ItemVersion.id)
        .where(FormItem.form_id == form_id)
        .order_by(FormItem.item_version_id)
    ).all()
    # An item set's stimulus is neither: it earns nothing and nobody marks it.
    counted = [(int(v), float(p), t) for v, p, t in rows if item_type(t).scoring().counts]
    human = [PaperItem(v, p, t) for v, p, t in counted if not item_type(t).auto_scored]
    return human, len(counted) - len(human)


def _candidate_attempt(session: Session, exam_session: ExamSession, candidate_id: int) -> Attempt:
    attempt = session.scalar(
        select(Attempt).where(Attempt.session_id == exam_session.id, Attempt.candidate_id == candidate_id)
    )
    if attempt is None:
        raise GradingError("该考生在本场次没有作答记录（请先发准考证并生成作答记录）")
    return attempt


def _check_file(name: str, mime: str, data: bytes, allowed: set[str]) -> None:
    if mime not in allowed:
        raise GradingError(f"文件 {name} 的类型 {mime} 不能上传（允许 {', '.join(sorted(allowed))}）")
    if not data:
        raise GradingError(f"文件 {name} 是空的")
    if len(data) > MAX_UPLOAD_BYTES:
        raise GradingError(f"文件 {name} 超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")


def _document(
    exam_session: ExamSession, candidate_id: int, kind: str, page: int, title: str, file: tuple[str, str, bytes],
    actor: str,
) -> GradingDocument:
    name, mime, data = file
    return GradingDocument(
        session_id=exam_session.id, candidate_id=candidate_id, kind=kind, page=page, title=title[:300],
        original_name=name[:300], mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data,
        uploaded_by=actor,
    )


def upload_scans(
    session: Session,
    exam_session: ExamSession,
    candidate_id: int,
    files: Sequence[tuple[str, str, bytes]],
    actor: str,
) -> list[GradingTask]:
    """Store a paper sitter's scanned answer sheets (name, mime, bytes per page) and create a grading task
    per item of their paper, each showing the scans. Only papers graded wholly by people can be sat on paper.
    Commits."""
    with transaction(session):
        if not files:
            raise GradingError("请选择扫描件")
        for name, mime, data in files:
            _check_file(name, mime, data, SCAN_MIMES)
        attempt = _candidate_attempt(session, exam_session, candidate_id)
        human, objective = paper_items(session, attempt.form_id)
        if objective:
            raise GradingError(f"该试卷含 {objective} 道客观题，须上机作答；只有全部为主观题的笔试可以上传纸质答卷扫描件")
        existing = session.scalar(
            select(func.count()).select_from(GradingDocument).where(
                GradingDocument.session_id == exam_session.id, GradingDocument.candidate_id == candidate_id,
                GradingDocument.kind == "scan",
            )
        ) or 0
        started = session.scalar(
            select(GradingTask.id).where(GradingTask.attempt_id == attempt.id, GradingTask.status != PENDING,
                                         GradingTask.superseded.is_(False)).limit(1)
        )
        if started is not None:
            raise GradingError("该考生的答卷已开始评阅，不能再补传扫描件")
        for page, file in enumerate(files, start=existing + 1):
            session.add(_document(exam_session, candidate_id, "scan", page, f"第 {page} 页", file, actor))
        session.flush()
        audit(session, actor, "grading.upload_scans", "exam_session", exam_session.id,
              after={"candidate_id": candidate_id, "pages": len(files)})
        created = ensure_item_tasks(session, exam_session, attempt.id, candidate_id, human, actor, kind=SCAN)
    return created


def submit_thesis(
    session: Session,
    exam_session: ExamSession,
    candidate_id: int,
    title: str,
    file: tuple[str, str, bytes],
    actor: str,
) -> tuple[GradingTask, GradingTask]:
    """Store a level 2-1 candidate's thesis and create its two tasks: the thesis (double-marked) and the
    defence (scored by a panel). A thesis may be replaced only before anyone is assigned to it. Commits."""
    with transaction(session):
        title = (title or "").strip()
        if exam_session.level not in (1, 2):
            raise GradingError("只有 2 级（保安师）和 1 级（高级保安师）有论文答辩")
        if not title:
            raise GradingError("请填写论文题目")
        name, mime, data = file
        _check_file(name, mime, data, THESIS_MIMES)
        is_candidate = session.scalar(
            select(Ticket.id).where(Ticket.session_id == exam_session.id, Ticket.candidate_id == candidate_id)
        )
        if is_candidate is None:
            raise GradingError("该考生没有本场次的准考证")
        attempt = session.scalar(
            select(Attempt.id).where(Attempt.session_id == exam_session.id, Attempt.candidate_id == candidate_id)
        )
        current = {
            t.kind: t for t in session.scalars(
                select(GradingTask).where(
                    GradingTask.session_id == exam_session.id, GradingTask.candidate_id == candidate_id,
                    GradingTask.kind.in_((THESIS, DEFENCE)), GradingTask.superseded.is_(False),
                )
            )
        }
        if THESIS in current and current[THESIS].status != PENDING:
            raise GradingError("该考生的论文已开始评阅，不能更换")
        old_doc = session.scalar(
            select(GradingDocument).where(GradingDocument.session_id == exam_session.id,
                                          GradingDocument.candidate_id == candidate_id, GradingDocument.kind == "thesis")
        )
        if old_doc is not None:
            session.delete(old_doc)
        session.add(_document(exam_session, candidate_id, "thesis", 1, title, file, actor))
        rules = rules_of(exam_session)
        thesis_rubric = current_rubric(session, exam_session.level, "thesis")
        defence_rubric = current_rubric(session, exam_session.level, "defence")
        thesis = current.get(THESIS)
        defence = current.get(DEFENCE)
        codes = new_codes(session, 2)
        if thesis is None:
            thesis = GradingTask(
                code=codes[0], session_id=exam_session.id, candidate_id=candidate_id, attempt_id=attempt,
                level=exam_session.level, part="defence", kind=THESIS, rubric_id=thesis_rubric.id,
                max_points=thesis_rubric.max_points, tolerance=rules.tolerance_for(thesis_rubric.max_points),
                final_rule=rules.final_rule, status=PENDING,
            )
            session.add(thesis)
        thesis.title = f"论文：{title}"[:300]
        if defence is None:
            defence = GradingTask(
                code=codes[1], session_id=exam_session.id, candidate_id=candidate_id, attempt_id=attempt,
                level=exam_session.level, part="defence", kind=DEFENCE, rubric_id=defence_rubric.id,
                max_points=defence_rubric.max_points, tolerance=0.0, final_rule=rules.panel_rule, status=PENDING,
            )
            session.add(defence)
        defence.title = f"答辩：{title}"[:300]
        session.flush()
        audit(session, actor, "grading.submit_thesis", "grading_task", thesis.id,
              after={"candidate_id": candidate_id, "title": title, "defence_task": defence.code})
    return thesis, defence


def regrade_for_review(session: Session, result: ResultRef, actor: str) -> list[GradingTask]:
    """For a review (复核): a new round of every human-graded task behind `result` (the defence panel's live
    score stays); the earlier tasks stay, superseded. Flushes; returns the new tasks."""
    query = select(GradingTask).where(GradingTask.superseded.is_(False), GradingTask.status == FINAL)
    if result.attempt_id is not None and result.part != "defence":
        query = query.where(GradingTask.attempt_id == result.attempt_id, GradingTask.kind.in_((ITEM, SCAN)))
    else:
        query = query.where(GradingTask.session_id == result.session_id,
                            GradingTask.candidate_id == result.candidate_id, GradingTask.kind == THESIS)
    old = list(session.scalars(query.order_by(GradingTask.id)))
    codes = new_codes(session, len(old))
    created = []
    for code, task in zip(codes, old, strict=True):
        task.superseded = True
        new = GradingTask(
            code=code, session_id=task.session_id, candidate_id=task.candidate_id, attempt_id=task.attempt_id,
            level=task.level, part=task.part, kind=task.kind, item_version_id=task.item_version_id,
            rubric_id=task.rubric_id, title=task.title, max_points=task.max_points, tolerance=task.tolerance,
            final_rule=task.final_rule, status=PENDING, round=task.round + 1, supersedes_id=task.id,
        )
        session.add(new)
        created.append(new)
    session.flush()
    for new in created:
        audit(session, actor, "grading.regrade", "grading_task", new.id,
              after={"code": new.code, "supersedes": new.supersedes_id, "round": new.round})
    return created
