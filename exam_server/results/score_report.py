"""A candidate's score report (成绩单) as PDF, from the STORED level outcome (outcomes.py) and released results only:
name, masked ID number, ticket, level, each part (score out of 100 and 合格/不合格, or 免试 with the reason the
exemption decision recorded), the pass line, the level outcome, its date, and how to ask for a review (复核,
review_requests.py). The PDF style and CJK font are the tickets' (sessions/pdf.py).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exam_server.results.errors import ResultsError
from exam_server.results.models import RELEASED, LevelOutcome, Result
from exam_server.results.outcomes import current_outcome
from exam_server.results.review_requests import review_deadline, review_window_days
from exam_server.sessions.models import Candidate, Ticket
from exam_server.sessions.operations import mask_id_number
from exam_server.sessions.pdf import FONT_NAME, register_cjk_font
from scoring.results import PART_NAMES, required_parts
from scoring.rules import PASS_MARK

LEVEL_NAMES = {5: "初级保安员（五级）", 4: "中级保安员（四级）", 3: "高级保安员（三级）", 2: "保安师（二级）",
               1: "高级保安师（一级）"}
REVIEW_WHERE = "登录考生端，进入“我的成绩”页面（/results/mine），在该科目成绩旁填写理由并提交复核申请"


@dataclass(frozen=True)
class PartLine:
    name: str
    score: str  # "82 分" / "免试" / "暂无成绩"
    verdict: str  # 合格 / 不合格 / 免试 / —
    note: str  # the exemption's reason, or ""


@dataclass(frozen=True)
class ScoreReport:
    candidate_id: int
    name: str
    masked_id: str
    ticket: str
    level: int
    parts: list[PartLine]
    outcome: str  # 合格 / 不合格 / 尚未完成
    outcome_date: dt.date | None
    released_on: dt.date | None
    # Per part that may be reviewed (released, not exempt): its name and the last day to ask (review_requests.py).
    review_until: tuple[tuple[str, dt.date], ...] = ()


def _score(value: float | None) -> str:
    if value is None:
        return "暂无成绩"
    return f"{value:.0f} 分" if float(value).is_integer() else f"{value:.1f} 分"


def _releasable(outcome: LevelOutcome) -> bool:
    """Every part the outcome counts is released (an incomplete outcome may still show its released parts)."""
    parts = (outcome.parts or {}).get("parts", {})
    counted = [p for p in parts.values() if p.get("result_id")]
    return bool(counted) and all(p.get("released") for p in counted)


def report_for(session: Session, candidate_id: int, level: int) -> ScoreReport:
    """The candidate's report at `level` from the current stored outcome; refused unless it is released."""
    outcome = current_outcome(session, candidate_id, level)
    if outcome is None or not _releasable(outcome):
        raise ResultsError("成绩尚未发布，不能下载成绩单", status=404)
    return _report(session, outcome)


def _report(session: Session, outcome: LevelOutcome) -> ScoreReport:
    candidate = session.get(Candidate, outcome.candidate_id)
    assert candidate is not None
    stored = (outcome.parts or {}).get("parts", {})
    ids = [p["result_id"] for p in stored.values() if p.get("result_id")]
    results = {r.id: r for r in session.scalars(select(Result).where(Result.id.in_(ids)))} if ids else {}
    lines: list[PartLine] = []
    until: list[tuple[str, dt.date]] = []
    for part in required_parts(outcome.level):
        info = stored.get(part, {})
        result = results.get(info.get("result_id"))
        name = PART_NAMES.get(part, part)
        if result is not None and result.exempt:
            rule = (result.basis or {}).get("rule") or "符合免试条件"
            lines.append(PartLine(name, "免试", "免试", f"免试理由：{rule}"))
        elif result is None or result.status != RELEASED or result.score is None:
            lines.append(PartLine(name, "暂无成绩", "—", ""))
        else:
            lines.append(PartLine(name, _score(result.score), "合格" if result.passed else "不合格", ""))
            deadline = review_deadline(result.released_at)
            if deadline is not None:
                until.append((name, deadline))
    sessions = [s for s in (outcome.theory_session_id, outcome.skill_session_id) if s]
    ticket = session.scalar(select(Ticket.number).where(Ticket.candidate_id == candidate.id,
                                                        Ticket.session_id.in_(sessions)).order_by(Ticket.id.desc())
                            .limit(1)) if sessions else None
    released = [r.released_at for r in results.values() if r.released_at is not None]
    return ScoreReport(
        candidate_id=candidate.id, name=candidate.name, masked_id=mask_id_number(candidate.id_number),
        ticket=ticket or "—", level=outcome.level, parts=lines,
        outcome=("合格" if outcome.passed else "不合格") if outcome.complete else "尚未完成",
        outcome_date=outcome.outcome_date, released_on=max(released).date() if released else None,
        review_until=tuple(until),
    )


def reports_for_sitting(session: Session, sitting_id: int) -> list[ScoreReport]:
    """The released reports of every candidate whose current outcome counts a part of the sitting."""
    outcomes = session.scalars(
        select(LevelOutcome).where(LevelOutcome.superseded.is_(False),
                                   or_(LevelOutcome.theory_session_id == sitting_id,
                                       LevelOutcome.skill_session_id == sitting_id))
        .order_by(LevelOutcome.candidate_id, LevelOutcome.level)
    )
    return [_report(session, o) for o in outcomes if _releasable(o)]


def _until_text(until: Sequence[tuple[str, dt.date]]) -> str:
    days = {day for _name, day in until}
    if len(days) == 1:
        return f"本成绩单所列成绩截止 {next(iter(days)):%Y年%m月%d日}（含当日）"
    return "截止日期：" + "，".join(f"{name} {day:%Y年%m月%d日}" for name, day in until) + "（含当日）"


def review_lines(report: ScoreReport | None = None) -> list[str]:
    """How to ask for a review (复核), as review_requests.py accepts one, with the report's last days to ask."""
    window = f"3. 申请期限：成绩发布之日起 {review_window_days()} 日内，逾期不予受理"
    if report is not None and report.review_until:
        window += f"；{_until_text(report.review_until)}"
    return [
        "如对成绩有异议，可申请复核（成绩复核）：",
        f"1. 申请方式：{REVIEW_WHERE}。",
        "2. 申请条件：成绩已发布；每个科目的最新成绩可申请一次，处理中的申请未结束前不能重复申请；免试科目没有分数，不能申请复核。",
        window + "。",
        "4. 处理方式：鉴定中心核分或安排重新评阅，结果在“我的成绩”页面显示；复核后的成绩以新成绩为准。",
    ]


def score_reports_pdf(reports: Sequence[ScoreReport]) -> bytes:
    """The reports, one A4 page each."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    register_cjk_font()
    w, h = A4
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle("职业技能鉴定成绩单")
    c.setAuthor("保安员职业技能鉴定中心")
    if not reports:
        c.setFont(FONT_NAME, 14)
        c.drawString(20 * mm, h - 30 * mm, "没有已发布的成绩。")
        c.showPage()
    for report in reports:
        c.setFillColor(colors.black)
        c.setFont(FONT_NAME, 18)
        c.drawCentredString(w / 2, h - 25 * mm, "保安员职业技能鉴定成绩单")
        y = h - 42 * mm
        for label, value in (("姓　　名", report.name), ("身份证号", report.masked_id), ("准考证号", report.ticket),
                             ("等　　级", LEVEL_NAMES.get(report.level, str(report.level)))):
            c.setFont(FONT_NAME, 11)
            c.drawString(22 * mm, y, f"{label}：{value}")
            y -= 8 * mm
        y -= 4 * mm
        c.setFont(FONT_NAME, 11)
        c.setStrokeColor(colors.black)
        c.setLineWidth(0.5)
        cols = (22 * mm, 62 * mm, 97 * mm, 127 * mm)
        for x, text in zip(cols, ("科目", "成绩（满分 100 分）", "结果", "说明"), strict=True):
            c.drawString(x, y, text)
        c.line(20 * mm, y - 2.5 * mm, w - 20 * mm, y - 2.5 * mm)
        y -= 9 * mm
        for line in report.parts:
            c.setFont(FONT_NAME, 11)
            for x, text in zip(cols[:3], (line.name, line.score, line.verdict), strict=True):
                c.drawString(x, y, text)
            c.setFont(FONT_NAME, 9)
            c.drawString(cols[3], y, line.note[:34])
            if len(line.note) > 34:
                y -= 5 * mm
                c.drawString(cols[3], y, line.note[34:68])
            y -= 8 * mm
        c.line(20 * mm, y + 4 * mm, w - 20 * mm, y + 4 * mm)
        y -= 4 * mm
        c.setFont(FONT_NAME, 11)
        c.drawString(22 * mm, y, f"合格线：各科目均满 {PASS_MARK} 分为合格（满分 100 分），免试科目视为合格。")
        y -= 9 * mm
        c.setFont(FONT_NAME, 13)
        c.drawString(22 * mm, y, f"等级鉴定结果：{report.outcome}")
        y -= 9 * mm
        c.setFont(FONT_NAME, 11)
        if report.outcome_date:
            c.drawString(22 * mm, y, f"鉴定日期：{report.outcome_date.strftime('%Y年%m月%d日')}")
            y -= 7 * mm
        if report.released_on:
            c.drawString(22 * mm, y, f"成绩发布日期：{report.released_on.strftime('%Y年%m月%d日')}")
            y -= 7 * mm
        y -= 6 * mm
        for i, text in enumerate(review_lines(report)):
            c.setFont(FONT_NAME, 11 if i == 0 else 9)
            # Long lines wrap at a fixed width: the page is A4 and the font monospaced enough for CJK.
            while text:
                c.drawString(22 * mm if i == 0 else 26 * mm, y, text[:52])
                text = text[52:]
                y -= 6 * mm
        c.setFont(FONT_NAME, 9)
        c.setFillColor(colors.HexColor("#555555"))
        c.drawString(22 * mm, 18 * mm, "本成绩单由保安员职业技能鉴定中心根据已发布的成绩生成，身份证号已部分隐藏。")
        c.showPage()
    c.save()
    return buf.getvalue()


__all__ = ["ScoreReport", "report_for", "reports_for_sitting", "review_lines", "score_reports_pdf"]
