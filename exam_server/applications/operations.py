"""The verbs that change applications: windows, eligibility rules, applying (three ways in), photos, review.

Each write runs in one transaction and writes its audit rows; a refusal is an `ApplicationError` (Chinese, with the
problems a screen or an import report lists). Who may act is the caller's `Scope` (organisations/scope.py): a unit's
staff act on their unit's applications only, a centre's on its units', the province on all; the police read only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.applications import eligibility
from exam_server.applications.idcard import normalise
from exam_server.applications.intake import Checked, Intake
from exam_server.applications.levels import LEVELS, PART_LABELS, PARTS, level_name
from exam_server.applications.models import (
    REJECTED,
    Application,
    ApplicationWindow,
    EligibilityRuleSet,
    UnitApplicationLink,
)
from exam_server.applications.photos import check_photo, store_photo
from exam_server.applications.review import APPLICATION_REVIEW, STAGE_LABELS, STEPS, ReviewRefused
from exam_server.organisations.models import PilotUnit
from exam_server.organisations.scope import Scope
from item_bank.audit import audit
from item_bank.db import transaction, utcnow
from item_bank.kernel import DomainError

REASON_LIMIT = 500


class ApplicationError(DomainError):
    """An application (or a batch of them) refused; `problems` lists (where, column, reason) for a report."""

    default_code = "application_refused"
    default_status = 400

    def __init__(self, message: str, *, problems: Sequence[Problem] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        # Kept apart from `details` (JSON): the job runner stores them as text for the job's page.
        self.problems = list(problems)


@dataclass(frozen=True)
class Problem:
    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"第 {self.row} 行" if self.row is not None else ""
        return f"{where}【{self.column}】{self.message}"


# ---------------------------------------------------------------- windows (逐级启动)


def open_window(session: Session, *, level: int, part: str, opens_on: dt.date, closes_on: dt.date,
                exam_on: dt.date | None = None, actor: str) -> ApplicationWindow:
    """Open `level`'s `part` for applications from `opens_on` to `closes_on` (both included)."""
    _check_window(session, level, part, opens_on, closes_on, exam_on, None)
    with transaction(session):
        window = ApplicationWindow(level=level, part=part, opens_on=opens_on, closes_on=closes_on,
                                   exam_on=exam_on, created_by=actor)
        session.add(window)
        session.flush()
        audit(session, actor, "open_applications", "application_window", window.id,
              after=_window_dict(window))
    return window


def change_window(session: Session, window: ApplicationWindow, *, opens_on: dt.date, closes_on: dt.date,
                  exam_on: dt.date | None, actor: str) -> ApplicationWindow:
    """Move a window's dates (to close a level early, set closes_on to yesterday)."""
    _check_window(session, window.level, window.part, opens_on, closes_on, exam_on, window.id)
    with transaction(session):
        before = _window_dict(window)
        window.opens_on, window.closes_on, window.exam_on = opens_on, closes_on, exam_on
        audit(session, actor, "change_application_window", "application_window", window.id,
              before=before, after=_window_dict(window))
    return window


def _window_dict(window: ApplicationWindow) -> dict[str, Any]:
    return {"level": window.level, "part": window.part, "opens_on": window.opens_on.isoformat(),
            "closes_on": window.closes_on.isoformat(),
            "exam_on": window.exam_on.isoformat() if window.exam_on else None}


def _check_window(session: Session, level: int, part: str, opens_on: dt.date, closes_on: dt.date,
                  exam_on: dt.date | None, own_id: int | None) -> None:
    if level not in LEVELS:
        raise ApplicationError(f"没有等级 {level}（应为 5、4、3、2、1）", code="unknown_level")
    if part not in PARTS:
        raise ApplicationError(f"考核科目应为 {' / '.join(PARTS)}", code="unknown_part")
    if closes_on < opens_on:
        raise ApplicationError(f"截止日期 {closes_on} 早于开始日期 {opens_on}", code="bad_window")
    if exam_on is not None and exam_on < closes_on:
        raise ApplicationError(f"计划考试日期 {exam_on} 早于申报截止日期 {closes_on}", code="bad_window")
    for other in session.scalars(select(ApplicationWindow).where(
            ApplicationWindow.level == level, ApplicationWindow.part == part)):
        if other.id != own_id and other.opens_on <= closes_on and opens_on <= other.closes_on:
            raise ApplicationError(
                f"{level_name(level)}{PART_LABELS[part]}已有申报时间 {other.opens_on} 至 {other.closes_on}，"
                f"与新设的时间重叠", code="window_overlap")


def windows(session: Session) -> list[ApplicationWindow]:
    return list(session.scalars(select(ApplicationWindow).order_by(
        ApplicationWindow.level.desc(), ApplicationWindow.opens_on.desc(), ApplicationWindow.part)))


# ---------------------------------------------------------------- eligibility rules as data


def rules_for(session: Session, level: int) -> dict[str, Any]:
    """The level's configured rules (the defaults until someone saves others)."""
    row = session.get(EligibilityRuleSet, level)
    return row.config if row is not None else eligibility.default_config(level)


def save_rules(session: Session, level: int, config: Any, actor: str) -> dict[str, Any]:
    """Replace the level's rules with `config` (JSON text or a dict), checked first; audited before/after."""
    checked = eligibility.validate_config(config, level)
    with transaction(session):
        row = session.get(EligibilityRuleSet, level)
        before = row.config if row is not None else eligibility.default_config(level)
        if row is None:
            row = EligibilityRuleSet(level=level, config=checked, updated_by=actor)
            session.add(row)
        else:
            row.config, row.updated_by, row.updated_at = checked, actor, utcnow()
        audit(session, actor, "save_eligibility_rules", "eligibility_rule_set", level,
              before={"config": before}, after={"config": checked})
    return checked


# ---------------------------------------------------------------- applying


def _store(session: Session, checked: Checked, unit: PilotUnit, channel: str, actor: str) -> Application:
    application = Application(
        **checked.fields, level=checked.level, parts=checked.parts, window_id=checked.window.id,
        unit_id=unit.id, training_unit_id=checked.training_unit.id, channel=channel,
        decisions=checked.decisions, theory_exempt=checked.theory_exempt, previous_id=checked.previous_id,
        created_by=actor)
    session.add(application)
    return application


def _audit_submitted(session: Session, application: Application, actor: str) -> None:
    audit(session, actor, "submit_application", "application", application.id,
          after={"status": application.status, "level": application.level, "unit_id": application.unit_id,
                 "channel": application.channel, "parts": application.parts,
                 "theory_exempt": application.theory_exempt, "previous_id": application.previous_id})


def submit_application(session: Session, unit: PilotUnit, row: dict[str, Any], *, channel: str, actor: str,
                       scope: Scope | None = None, photo: tuple[str, bytes] | None = None,
                       today: dt.date | None = None) -> Application:
    """One application through `unit` (row: the template's column → value), checked by the one rule set.

    `scope` is the staff member's (None for a candidate's own application through the unit's link)."""
    if scope is not None:
        scope.check_write()
        scope.check_unit(unit.id, "试点单位")
    intake = Intake.load(session, unit, today)
    intake.load_people([str(row.get("身份证号") or "")])
    checked, problems = intake.check(row)
    if photo is not None and photo[1]:
        try:
            photo_row = store_photo(session, *photo)
        except DomainError as exc:
            session.rollback()
            problems.append(("证件照", exc.message))
    if problems or checked is None:
        session.rollback()
        found = [Problem(None, column, message) for column, message in problems]
        raise ApplicationError("申请未受理：" + "；".join(str(p) for p in found), problems=found)
    with transaction(session):
        application = _store(session, checked, unit, channel, actor)
        if photo is not None and photo[1]:
            application.photo = photo_row
        session.flush()
        _audit_submitted(session, application, actor)
    return application


@dataclass
class ImportResult:
    file: str
    rows: int
    created: int = 0
    exempt: int = 0
    problems: list[Problem] = field(default_factory=list)
    elapsed_s: float = 0.0


def import_rows(session: Session, unit: PilotUnit, rows: Sequence[tuple[int, dict[str, Any]]], *, actor: str,
                scope: Scope | None = None, file: str = "", today: dt.date | None = None,
                dry_run: bool = False) -> ImportResult:
    """All of a workbook's rows (spreadsheet row number, column → value) as applications through `unit`, or none:
    ApplicationError listing every bad row and column."""
    if scope is not None:
        scope.check_write()
        scope.check_unit(unit.id, "试点单位")
    intake = Intake.load(session, unit, today)
    intake.load_people(str(row.get("身份证号") or "") for _, row in rows)
    result = ImportResult(file, len(rows))
    good: list[Checked] = []
    for number, row in rows:
        checked, problems = intake.check(row, where=f"第 {number} 行")
        result.problems.extend(Problem(number, column, message) for column, message in problems)
        if checked is not None:
            good.append(checked)
    if not rows:
        result.problems.append(Problem(None, "-", "文件中没有申请（表头之后没有数据行）"))
    if result.problems:
        session.rollback()
        raise ApplicationError(
            f"{file or '文件'} 有 {len(result.problems)} 处问题，未导入任何申请：" +
            "；".join(str(p) for p in result.problems[:20]) + ("……" if len(result.problems) > 20 else ""),
            problems=result.problems, code="import_refused")
    with transaction(session, dry_run=dry_run):
        stored = [_store(session, checked, unit, "import", actor) for checked in good]
        session.flush()
        for application in stored:
            _audit_submitted(session, application, actor)
        audit(session, actor, "import_applications", "pilot_unit", unit.id,
              after={"file": file, "created": len(stored)})
    result.created = len(good)
    result.exempt = sum(1 for c in good if c.theory_exempt)
    return result


def set_photo(session: Session, application: Application, name: str, data: bytes, *, actor: str,
              scope: Scope | None) -> Application:
    """Store the applicant's ID photo (replacing an earlier one), audited."""
    if scope is not None:
        scope.check_write()
        scope.check_unit(application.unit_id, "申请")
    with transaction(session):
        before = application.photo_id
        application.photo = store_photo(session, name, data)
        session.flush()
        audit(session, actor, "set_applicant_photo", "application", application.id,
              before={"photo_id": before}, after={"photo_id": application.photo_id})
    return application


# ---------------------------------------------------------------- the unit's link


def unit_link(session: Session, unit: PilotUnit, *, actor: str, renew: bool = False) -> UnitApplicationLink:
    """The unit's application link (made on first use); `renew` replaces its token, so the old link stops working."""
    link = session.scalar(select(UnitApplicationLink).where(UnitApplicationLink.unit_id == unit.id))
    if link is not None and not renew:
        return link
    with transaction(session):
        if link is None:
            link = UnitApplicationLink(unit_id=unit.id, token=secrets.token_urlsafe(24))
            session.add(link)
        else:
            link.token = secrets.token_urlsafe(24)
        session.flush()
        audit(session, actor, "renew_application_link" if renew else "create_application_link",
              "pilot_unit", unit.id)
    return link


def unit_by_token(session: Session, token: str) -> PilotUnit | None:
    link = session.scalar(select(UnitApplicationLink).where(
        UnitApplicationLink.token == token, UnitApplicationLink.active.is_(True)))
    return link.unit if link is not None and link.unit.active else None


# ---------------------------------------------------------------- review (初审, 复审)


def review(session: Session, application: Application, *, stage: str, approve: bool, reason: str, actor: str,
           scope: Scope) -> Application:
    """初审 (stage "unit") or 复审 (stage "centre"): approve, or reject with a reason the candidate can read."""
    _review_one(session, application, stage, approve, reason, actor, scope)
    session.commit()
    return application


def _review_one(session: Session, application: Application, stage: str, approve: bool, reason: str,
                actor: str, scope: Scope) -> None:
    scope.check_write()
    scope.check_unit(application.unit_id, "申请")
    reason = (reason or "").strip()[:REASON_LIMIT]
    if not approve and not reason:
        raise ReviewRefused(f"{STAGE_LABELS[stage]}不通过须写明原因（考生和单位会看到）",
                            f"{stage}_reject", application.status, "")
    action, target = STEPS[(stage, approve)]
    APPLICATION_REVIEW.apply(session, application, action, target, actor, reason=reason)
    now = utcnow()
    if stage == "unit":
        application.unit_reason, application.unit_reviewed_by, application.unit_reviewed_at = reason, actor, now
    else:
        application.centre_reason, application.centre_reviewed_by = reason, actor
        application.centre_reviewed_at = now


@dataclass
class BatchSummary:
    done: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)

    def words(self, stage: str, approve: bool) -> str:
        verb = f"{STAGE_LABELS[stage]}{'通过' if approve else '不通过'}"
        text = f"{verb} {len(self.done)} 份申请"
        if self.refused:
            text += f"；{len(self.refused)} 份未处理：" + "；".join(f"申请 {i}：{why}" for i, why in self.refused[:10])
        return text + "。"


def review_batch(session: Session, ids: Sequence[int], *, stage: str, approve: bool, reason: str, actor: str,
                 scope: Scope) -> BatchSummary:
    """The same decision on many applications: those it may apply to change (one transaction), the others are
    listed with why."""
    summary = BatchSummary()
    if not approve and not (reason or "").strip():
        raise ApplicationError("批量不通过须写明原因（考生和单位会看到）", code="reason_required")
    scope.check_write()
    with transaction(session):
        for app_id in dict.fromkeys(ids):
            application = session.get(Application, app_id)
            if application is None or not scope.sees_unit(application.unit_id):
                summary.refused.append((app_id, "没有这份申请，或不属于本机构"))
                continue
            try:
                _review_one(session, application, stage, approve, reason, actor, scope)
            except DomainError as exc:
                summary.refused.append((app_id, exc.message))
                continue
            summary.done.append(app_id)
        audit(session, actor, f"review_batch_{stage}", "application", ",".join(map(str, summary.done))[:200],
              after={"approve": approve, "done": len(summary.done), "refused": len(summary.refused)})
    return summary


def mark_ticketed(session: Session, application: Application, actor: str, *, reason: str = "") -> None:
    """centre_approved → ticketed, in the caller's transaction (the sittings package, when it issues the ticket);
    audited. ReviewRefused if the application has not passed 复审 (or is already ticketed)."""
    APPLICATION_REVIEW.apply(session, application, "ticket", "ticketed", actor, reason=reason)


def import_photos(session: Session, unit: PilotUnit, photos: Sequence[tuple[str, bytes]], *, actor: str,
                  scope: Scope | None = None, file: str = "") -> int:
    """ID photos named `<身份证号>.jpg|png` for the unit's applications (each person's newest one not rejected),
    all or none: ApplicationError naming every member that matches no applicant or is no acceptable photo."""
    if scope is not None:
        scope.check_write()
        scope.check_unit(unit.id, "试点单位")
    problems: list[Problem] = []
    matched: list[tuple[Application, str, bytes]] = []
    numbers = {normalise(PurePosixPath(member).stem): (member, data) for member, data in photos}
    found: dict[str, Application] = {}
    wanted = sorted(numbers)
    for start in range(0, len(wanted), 500):
        for application in session.scalars(select(Application).where(
                Application.unit_id == unit.id, Application.id_number.in_(wanted[start:start + 500]),
                Application.status.not_in(REJECTED)).order_by(Application.id)):
            found[application.id_number] = application
    for number, (member, data) in numbers.items():
        application = found.get(number)
        if application is None:
            problems.append(Problem(None, member, f"{unit.name} 没有身份证号为 {number} 的申请（文件名应为 身份证号.jpg）"))
            continue
        try:
            check_photo(member, data)
        except DomainError as exc:
            problems.append(Problem(None, member, exc.message))
            continue
        matched.append((application, member, data))
    if not photos:
        problems.append(Problem(None, "-", "压缩包中没有照片"))
    if problems:
        session.rollback()
        raise ApplicationError(f"{file or '照片压缩包'} 有 {len(problems)} 处问题，未保存任何照片：" +
                               "；".join(f"{p.column}：{p.message}" for p in problems[:20]),
                               problems=problems, code="photos_refused")
    with transaction(session):
        for application, member, data in matched:
            before = application.photo_id
            application.photo = store_photo(session, member, data)
            session.flush()
            audit(session, actor, "set_applicant_photo", "application", application.id,
                  before={"photo_id": before}, after={"photo_id": application.photo_id, "file": file})
    return len(matched)
