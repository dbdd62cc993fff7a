"""The verbs of item analysis that change the bank: send flagged items to the reviewers' queue with their
statistics, and store accepted estimates (p, a, b, c) on the item versions. Each commits and is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.analysis.compute import SessionAnalysis, fmt_num
from exam_server.analysis.errors import AnalysisError
from exam_server.analysis.settings import MODEL_LABELS
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.models import APPROVED, DRAFT, IN_REVIEW, Item, ItemVersion, ReviewComment
from item_bank.review import Reviewer, ReviewError, transition
from item_bank.versions import ItemDraft, ItemError, latest_version, revise_item

if TYPE_CHECKING:
    import pandas as pd  # only in annotations: the analysis web domain imports this module at start-up

COMMENT_MARK = "【试题分析"
MAX_ABS_B = 6.0


def review_comment(analysis: SessionAnalysis, version_id: int) -> str:
    """The statistics and flag reasons of one item version, as the comment reviewers read."""
    parts = [f"{COMMENT_MARK} {analysis.code}】{analysis.name}，共 {analysis.n_attempts} 名考生作答。"]
    for f, it, s in analysis.appearances(version_id):
        parts.append(
            f"试卷 {f.form_code} 第 {it.position} 题（{it.external_id} 第 {it.version_no} 版，"
            f"答案 {it.key_text}）：作答 {int(s['n'])} 人，难度 p={s['p']:.2f}，"
            f"校正题总相关 r={fmt_num(s['r_corrected'])}，未答率 {s['omit_rate']:.0%}。"
        )
        d = f.ctt.distractors
        d = d[d["item"] == version_id] if len(d) else d
        if len(d):
            shares = "，".join(
                f"{o.option}{'（答案）' if o.is_key else ''} {o.share:.0%}/{o.share_upper:.0%}/{o.share_lower:.0%}"
                for o in d.itertuples()
            )
            parts.append(f"各选项选择率（全体/高分组27%/低分组27%）：{shares}。")
        reasons = f.flag_reasons(version_id)
        if reasons:
            parts.append("标记原因：" + "；".join(reasons) + "。")
    if analysis.irt.fitted and version_id in analysis.irt.params.index:
        p = analysis.irt.params.loc[version_id]
        parts.append(
            f"IRT（{MODEL_LABELS[analysis.irt.model]}，{analysis.irt.n_persons} 人"
            f"{'' if analysis.irt.converged else '，未收敛'}）：a={fmt_num(p['a'])}，b={fmt_num(p['b'])}"
            + (f"，c={fmt_num(p['c'])}" if analysis.irt.model == "3pl" else "")
            + "。"
        )
    elif version_id in analysis.irt.excluded:
        parts.append(f"IRT：未估计（{analysis.irt.excluded[version_id]}）。")
    parts.append("请审题人核对答案与题目内容，必要时修改后重新审核。")
    return "\n".join(parts)


@dataclass
class ReviewReport:
    """What sending items to review did, item by item."""

    sent: list[tuple[str, int]] = field(default_factory=list)  # (external id, new version no) now in review
    attached: list[tuple[str, str]] = field(default_factory=list)  # (external id, where the comment went)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (external id or version, reason)

    def lines(self) -> list[str]:
        out = [
            f"已送审 {len(self.sent)} 题"
            + (f"，已附统计 {len(self.attached)} 题" if self.attached else "")
            + (f"，未处理 {len(self.refused)} 题" if self.refused else "")
        ]
        out += [
            f"  {ext}：新建第 {no} 版并提交审核（统计与标记原因已附在审核意见中）" for ext, no in self.sent
        ]
        out += [f"  {ext}：{where}" for ext, where in self.attached]
        out += [f"  {ext}：未处理，{why}" for ext, why in self.refused]
        return out


def _has_analysis_comment(session: Session, version_id: int, code: str) -> bool:
    mark = f"{COMMENT_MARK} {code}】"
    return any(
        t.startswith(mark)
        for t in session.scalars(
            select(ReviewComment.text).where(ReviewComment.item_version_id == version_id)
        )
    )


def send_to_review(
    session: Session, analysis: SessionAnalysis, who: Reviewer, version_ids: Iterable[int] | None = None
) -> ReviewReport:
    """Put flagged items (all, or `version_ids`) into the reviewers' queue with their statistics. Commits.

    The bank's lifecycle has no step from approved back to review, so the approved version stays in use
    and a copy of it becomes a new version submitted for review, carrying the statistics as its review
    comment. An item already waiting for review (or being edited) gets the comment added instead.
    """
    if not who.has_role("bank_manager", "author"):
        raise AnalysisError("只有题库管理员可以把试题送审")
    known = {it.version_id for f in analysis.forms for it in f.data.items}
    targets = (
        list(dict.fromkeys(int(v) for v in version_ids))
        if version_ids is not None
        else (analysis.flagged_version_ids())
    )
    if not targets:
        raise AnalysisError("没有需要送审的试题（请先勾选，或本场次没有被标记的试题）")
    report = ReviewReport()
    for vid in targets:
        version = session.get(ItemVersion, vid)
        if version is None or vid not in known:
            report.refused.append((f"版本 {vid}", f"不是考试场次 {analysis.code} 分析过的试题"))
            continue
        item = version.item
        text = review_comment(analysis, vid)
        try:
            with session.begin_nested():
                latest = latest_version(session, item)
                if latest.status in (IN_REVIEW, DRAFT):
                    if _has_analysis_comment(session, latest.id, analysis.code):
                        report.attached.append(
                            (item.external_id, f"第 {latest.version_no} 版已附本场次统计，未重复添加")
                        )
                        continue
                    session.add(
                        ReviewComment(
                            item_version_id=latest.id, author_id=who.user_id, text=text, created_at=utcnow()
                        )
                    )
                    audit(
                        session,
                        who.actor,
                        "item.analysis_comment",
                        "item_version",
                        latest.id,
                        after={"session": analysis.code, "analysed_version_id": vid},
                        reason=text[:500],
                    )
                    where = "待审核" if latest.status == IN_REVIEW else "草稿（作者提交后进入审核队列）"
                    report.attached.append(
                        (item.external_id, f"第 {latest.version_no} 版{where}，已附本场次统计")
                    )
                    continue
                if latest.status != APPROVED:
                    raise ReviewError(f"试题 {item.external_id} 已停用，不再送审", latest.id)
                # The copy's content is the original author's, so it keeps their name: the two-person rule
                # then stops that author, not the bank manager who sent it, from approving it.
                copy = revise_item(
                    session,
                    item,
                    ItemDraft.from_version(latest),
                    actor=who.actor,
                    author_id=latest.author_id,
                    base_version_id=latest.id,
                )
                transition(session, copy, "submit", who, text)
                audit(
                    session,
                    who.actor,
                    "item.send_to_review",
                    "item_version",
                    copy.id,
                    before={"version_id": latest.id, "status": latest.status},
                    after={
                        "session": analysis.code,
                        "analysed_version_id": vid,
                        "version_no": copy.version_no,
                    },
                    reason="试题分析标记",
                )
                report.sent.append((item.external_id, copy.version_no))
        except (ReviewError, ItemError) as exc:
            report.refused.append((item.external_id, str(exc)))
    session.commit()
    return report


# ---------------------------------------------------------------- accepting estimates


@dataclass
class AcceptReport:
    """Which item versions got the session's estimates stored, and why the others did not."""

    accepted: list[tuple[str, int]] = field(default_factory=list)  # (external id, version id)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"已保存估计值 {len(self.accepted)} 题"
            + (f"，未保存 {len(self.skipped)} 题" if self.skipped else "")
        ]
        out += [f"  {ext}：{why}" for ext, why in self.skipped]
        return out


def estimate_eligibility(analysis: SessionAnalysis) -> list[tuple[int, pd.Series, str | None]]:
    """Per analysed item version: (id, its session statistics, None if its estimates may be stored, else why not)."""
    stats = analysis.version_stats()
    out: list[tuple[int, pd.Series, str | None]] = []
    for vid, row in stats.iterrows():
        vid = int(vid)
        reason = None
        if row["n"] < analysis.settings.min_n:
            reason = f"作答 {int(row['n'])} 人，少于 {analysis.settings.min_n} 人"
        elif not analysis.irt.fitted:
            reason = f"没有IRT估计（{analysis.irt.message}）"
        elif not analysis.irt.converged:
            reason = "IRT 估计未收敛"
        elif vid in analysis.irt.excluded:
            reason = f"未做IRT估计（{analysis.irt.excluded[vid]}）"
        elif not np.all(np.isfinite([row["a"], row["b"], row["c"]])) or row["a"] <= 0:
            reason = f"IRT 估计不可用（a={fmt_num(row['a'])}，b={fmt_num(row['b'])}）：区分度为负或无法估计"
        elif abs(row["b"]) > MAX_ABS_B:
            # Beyond the quadrature's range nobody was measured: such a b is an extrapolation, not an estimate.
            reason = f"难度 b={fmt_num(row['b'])} 超出 ±{MAX_ABS_B:g}，几乎全对或全错，估计不稳定"
        out.append((vid, row, reason))
    return out


def accept_estimates(
    session: Session, analysis: SessionAnalysis, actor: str, version_ids: Iterable[int] | None = None
) -> AcceptReport:
    """Store p, a, b, c with n and the session on the item versions analysed (enough responses, IRT
    converged, a > 0). Commits.

    These are statistics, not content: the bank's immutability guard lets them change on versions used
    by locked forms. Assembly reads them for its difficulty and information targets.
    """
    if not analysis.irt.fitted:
        raise AnalysisError(f"考试场次 {analysis.code} 没有IRT估计：{analysis.irt.message}")
    if not analysis.irt.converged:
        raise AnalysisError(f"考试场次 {analysis.code} 的IRT估计未收敛，不能保存估计值")
    wanted = {int(v) for v in version_ids} if version_ids is not None else None
    rows = [r for r in estimate_eligibility(analysis) if wanted is None or r[0] in wanted]
    versions = {
        v.id: v for v in session.scalars(select(ItemVersion).where(ItemVersion.id.in_([r[0] for r in rows])))
    }
    names = dict(
        session.execute(
            select(ItemVersion.id, Item.external_id)
            .join(Item, Item.id == ItemVersion.item_id)
            .where(ItemVersion.id.in_(list(versions)))
        ).all()
    )
    report = AcceptReport()
    for vid, row, reason in rows:
        ext = names.get(vid, str(vid))
        if reason is not None:
            report.skipped.append((ext, reason))
            continue
        version = versions[vid]
        before = {
            "difficulty": version.difficulty,
            "irt_a": version.irt_a,
            "irt_b": version.irt_b,
            "irt_c": version.irt_c,
            "stats_n": version.stats_n,
            "stats_session_id": version.stats_session_id,
        }
        version.difficulty = round(float(row["p"]), 4)
        version.irt_a = round(float(row["a"]), 4)
        version.irt_b = round(float(row["b"]), 4)
        version.irt_c = round(float(row["c"]), 4)
        version.stats_n = int(row["n"])
        version.stats_session_id = analysis.exam_session_id
        audit(
            session,
            actor,
            "item.accept_estimates",
            "item_version",
            vid,
            before,
            {
                "difficulty": version.difficulty,
                "irt_a": version.irt_a,
                "irt_b": version.irt_b,
                "irt_c": version.irt_c,
                "stats_n": version.stats_n,
                "stats_session_id": analysis.exam_session_id,
                "model": analysis.irt.model,
            },
            reason=f"接受考试场次 {analysis.code} 的试题分析估计值",
        )
        report.accepted.append((ext, vid))
    session.commit()
    return report
