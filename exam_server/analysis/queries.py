"""What the item-analysis screens show besides the analysis itself: the sittings there is something to
analyse in, where each analysed item stands in the bank now, and the rows a page lists. Read only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.analysis.compute import FormAnalysis, SessionAnalysis
from exam_server.analysis.loading import SCORABLE, AnalysedItem
from exam_server.delivery.models import Attempt
from exam_server.sessions.models import ExamSession
from item_bank.models import Item, ItemVersion
from item_bank.review import STATUS_LABELS


def sittings_with_answers(session: Session) -> tuple[list[ExamSession], dict[int, int]]:
    """Every sitting, newest first, and how many submitted attempts each has."""
    counts = dict(session.execute(
        select(Attempt.session_id, func.count(Attempt.id))
        .where(Attempt.status.in_(SCORABLE))
        .group_by(Attempt.session_id)
    ).all())
    sessions = list(session.scalars(select(ExamSession).order_by(ExamSession.starts_at.desc())))
    return sessions, counts


def estimates_stored(session: Session, exam_session_id: int) -> int:
    """How many item versions carry the estimates of this sitting."""
    return session.scalar(
        select(func.count(ItemVersion.id)).where(ItemVersion.stats_session_id == exam_session_id)
    ) or 0


def bank_state(session: Session, version_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per analysed version: the version, its item's newest version and that one's status."""
    if not version_ids:
        return {}
    versions = {v.id: v for v in session.scalars(select(ItemVersion).where(ItemVersion.id.in_(version_ids)))}
    newest = {}
    for v in session.scalars(
        select(ItemVersion).where(ItemVersion.item_id.in_({v.item_id for v in versions.values()}))
        .order_by(ItemVersion.version_no)
    ):
        newest[v.item_id] = v
    out = {}
    for vid, v in versions.items():
        head = newest[v.item_id]
        out[vid] = {
            "version": v,
            "head_no": head.version_no,
            "head_status": head.status,
            "head_label": STATUS_LABELS.get(head.status, head.status),
            "newer": head.id != v.id,
        }
    return out


def item_in_bank(session: Session, item: AnalysedItem) -> tuple[ItemVersion | None, str | None]:
    """The analysed version as stored, and its item's external id (for a link into the bank)."""
    version = session.get(ItemVersion, item.version_id)
    return version, session.scalar(select(Item.external_id).where(Item.id == item.item_id))


def flagged_entries(analysis: SessionAnalysis) -> list[dict[str, Any]]:
    """Each flagged item version once (on the first form it was flagged on), with its statistics and flags."""
    by_version: dict[int, list[dict[str, Any]]] = {}
    for row in analysis.flags.to_dict("records"):
        by_version.setdefault(int(row["version_id"]), []).append(row)
    entries = []
    for vid in analysis.flagged_version_ids():
        form = analysis.form(int(by_version[vid][0]["form_id"]))
        entries.append({"item": form.item(vid), "form": form, "stats": form.ctt.items.loc[vid],
                        "flags": by_version[vid]})
    return entries


def option_rows(form: FormAnalysis, item: AnalysedItem) -> list[dict[str, Any]]:
    """The distractor table of one item with every option, by letter (options nobody chose at zero shares)."""
    d = form.ctt.distractors
    rows = d[d["item"] == item.version_id].to_dict("records") if len(d) else []
    # Options nobody chose have no row in the table of scoring.ctt.
    chosen = {r["option"] for r in rows}
    for k in range(item.n_options if item.has_options else 0):
        letter = chr(65 + k)
        if letter not in chosen:
            rows.append(dict(option=letter, is_key=letter in item.key_text, share=0.0, share_upper=0.0,
                             share_lower=0.0, upper_minus_lower=0.0, upper_distractor=False, miskey=False))
    return sorted(rows, key=lambda r: r["option"])
