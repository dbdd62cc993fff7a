"""Key corrections (复核更正): a sitting's responses to an item are scored again with the key of a newer
version of it. The correction is stored per sitting, so every later scoring (and the item analysis) applies
it through the sitting's scoring plan (plan.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.results.errors import ResultsError
from exam_server.results.models import KeyCorrection
from exam_server.results.scoring import ScoringReport, score_session
from exam_server.sessions.models import ExamSession, SessionForm
from item_bank.audit import audit
from item_bank.models import FormItem, Item, ItemVersion


def _versions_to_correct(
    session: Session, exam_session: ExamSession, item_external_id: str, new_version_no: int | None
) -> tuple[Item, list[tuple[ItemVersion, ItemVersion]]]:
    """The item, and each version of it the sitting's papers carry paired with the version whose key replaces
    its key; ResultsError names what does not fit."""
    item = session.scalar(select(Item).where(Item.external_id == (item_external_id or "").strip()))
    if item is None:
        raise ResultsError(f"没有编号为 {item_external_id} 的试题")
    on_papers = (
        select(FormItem.item_version_id).join(SessionForm, SessionForm.form_id == FormItem.form_id)
        .where(SessionForm.session_id == exam_session.id)
    )
    olds = list(session.scalars(
        select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.id.in_(on_papers))
        .order_by(ItemVersion.version_no)
    ))
    if not olds:
        raise ResultsError(f"试题 {item.external_id} 不在考试场次 {exam_session.code} 的试卷上")
    query = select(ItemVersion).where(ItemVersion.item_id == item.id)
    if new_version_no is not None:
        query = query.where(ItemVersion.version_no == new_version_no)
    new = session.scalar(query.order_by(ItemVersion.version_no.desc()).limit(1))
    if new is None:
        raise ResultsError(f"试题 {item.external_id} 没有第 {new_version_no} 版")
    for old in olds:
        if new.version_no <= old.version_no:
            raise ResultsError(
                f"试题 {item.external_id} 第 {new.version_no} 版不比试卷上的第 {old.version_no} 版新；请先保存更正后的新版本"
            )
        if old.type != new.type:
            raise ResultsError(f"更正版本的题型（{new.type}）与原题型（{old.type}）不同")
    return item, [(old, new) for old in olds]


def correct_key(
    session: Session,
    exam_session: ExamSession,
    item_external_id: str,
    actor: str,
    reason: str,
    new_version_no: int | None = None,
    dry_run: bool = False,
) -> ScoringReport:
    """Score the session again with the key of a newer version of an item its papers carry.

    Responses to the version on the session's forms are scored with the key of version
    `new_version_no` of the same item (default: its newest version), which must have the same type.
    The correction is stored, so every later scoring applies it, and the report names each candidate
    whose result changed and why. Correcting the same item again replaces the earlier correction.
    With `dry_run` nothing is stored. Commits (with the sitting's scoring), or rolls back on a refusal.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ResultsError("更正答案必须填写原因")
    item, pairs = _versions_to_correct(session, exam_session, item_external_id, new_version_no)
    new = pairs[0][1]
    versions = "、".join(f"第 {old.version_no} 版" for old, _ in pairs)
    label = f"更正答案（试题 {item.external_id} {versions} → 第 {new.version_no} 版：{reason}）"
    if dry_run:
        return score_session(session, exam_session, actor, reason=label, dry_run=True,
                             extra_corrections=[(old.id, new.id) for old, _ in pairs], replace=True)
    existing = {
        c.old_version_id: c for c in session.scalars(
            select(KeyCorrection).where(KeyCorrection.session_id == exam_session.id,
                                        KeyCorrection.old_version_id.in_([o.id for o, _ in pairs]))
        )
    }
    try:
        for old, _ in pairs:
            previous = existing.get(old.id)
            before = {"version_id": old.id, "key": old.key}
            if previous is not None:
                if previous.new_version_id == new.id:
                    raise ResultsError(f"试题 {item.external_id} 已按第 {new.version_no} 版更正过")
                before["corrected_to"] = previous.new_version_id
                previous.new_version_id = new.id
                previous.reason = reason[:500]
                previous.actor = actor
            else:
                session.add(KeyCorrection(session_id=exam_session.id, old_version_id=old.id,
                                          new_version_id=new.id, reason=reason[:500], actor=actor))
            audit(session, actor, "key_correction", "exam_session", exam_session.id, before=before,
                  after={"version_id": new.id, "key": new.key}, reason=reason)
        session.flush()
    except BaseException:
        session.rollback()
        raise
    return score_session(session, exam_session, actor, reason=label)
