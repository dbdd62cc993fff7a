"""One rule set for every way in (a unit's screen, a unit's Excel import, a candidate's link): the fields of an
application checked, then the checks that need the database (the unit, the window, a duplicate, the rules).

    intake = Intake.load(session, unit, today)          # what a batch is checked against, read once
    intake.load_people(["110105…", ...])                # their earlier applications
    checked, problems = intake.check(row)               # row: {"姓名": ..., "身份证号": ..., ...}
    # problems: [(column, Chinese reason), ...]; checked is None when there are any

A problem names the column (the template's Chinese header) so an import can name the row and the column.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.applications import eligibility
from exam_server.applications.idcard import IdNumberError, check_id_number, normalise
from exam_server.applications.levels import PARTS, LevelError, level_name, parse_level
from exam_server.applications.models import REJECTED, Application, ApplicationWindow, EligibilityRuleSet
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.organisations.models import PilotUnit
from item_bank.db import utcnow

NAME, ID_NUMBER, SEX, PHONE, EMPLOYER = "姓名", "身份证号", "性别", "手机号", "工作单位"
CERT_NO, CERT_DATE, LEVEL, TRAINING_UNIT = "保安员证编号", "保安员证发证日期", "申报等级", "培训单位"
#: The template's columns, in order (issue 14 item 3).
COLUMNS = (NAME, ID_NUMBER, SEX, PHONE, EMPLOYER, CERT_NO, CERT_DATE, LEVEL, TRAINING_UNIT)
REQUIRED = (NAME, ID_NUMBER, PHONE, CERT_NO, CERT_DATE, LEVEL, TRAINING_UNIT)
# Optional columns a workbook may add for levels 4-1 (the prerequisite rule's facts); the template leaves them out.
PRIOR_NO, PRIOR_DATE, YEARS = "原等级证书编号", "原等级证书发证日期", "从业年限"
OPTIONAL = (PRIOR_NO, PRIOR_DATE, YEARS)
RULE_COLUMNS = {"guard_certificate": CERT_DATE, "prerequisite": PRIOR_NO}
PHONE_RE = re.compile(r"^1\d{10}$")
DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def local_today() -> dt.date:
    return utcnow().astimezone(DISPLAY_ZONE).date()


def parse_date(value: Any) -> dt.date:
    """A date from a cell or a form: a date, 2023-06-01, 2023/6/1, 2023.6.1, 2023年6月1日 or 20230601."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    match = DATE_RE.match(text)
    if not match:
        raise ValueError(f"日期“{text}”无法识别（请写成 2023-06-01）")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValueError(f"日期“{text}”不存在") from None


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass
class Checked:
    """An application ready to store: its fields, the window, the parts and the rules' decisions."""

    fields: dict[str, Any]
    level: int
    window: ApplicationWindow
    parts: list[str]
    training_unit: PilotUnit
    decisions: list[dict[str, Any]]
    theory_exempt: bool
    previous_id: int | None


def window_words(level: int, windows: list[ApplicationWindow], today: dt.date) -> str:
    """Why `level` takes no application today, in words."""
    later = sorted((w for w in windows if w.opens_on > today), key=lambda w: w.opens_on)
    if later:
        return (f"{level_name(level)}尚未开始申报（申报时间 {later[0].opens_on} 至 {later[0].closes_on}），"
                f"今天是 {today}")
    past = sorted((w for w in windows if w.closes_on < today), key=lambda w: w.closes_on)
    if past:
        return f"{level_name(level)}的申报已于 {past[-1].closes_on} 截止，今天是 {today}"
    return f"{level_name(level)}尚未开放申报（省里还没有设定申报时间）"


@dataclass
class Intake:
    """What applications are checked against, read once for a batch (see the module docstring)."""

    session: Session
    unit: PilotUnit
    today: dt.date
    units: dict[str, PilotUnit]
    windows: dict[int, list[ApplicationWindow]]
    configs: dict[int, dict[str, Any]]
    #: (ID number, level) with an application not rejected in a window open today.
    taken: set[tuple[str, int]] = field(default_factory=set)
    #: (ID number, level) → the latest rejected application (a new one follows it).
    rejected: dict[tuple[str, int], int] = field(default_factory=dict)
    #: (ID number, level) checked earlier in this batch → the row or form that had it.
    seen: dict[tuple[str, int], str] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, unit: PilotUnit, today: dt.date | None = None) -> Intake:
        units: dict[str, PilotUnit] = {}
        for known in session.scalars(select(PilotUnit).where(PilotUnit.active.is_(True))):
            units[known.name] = known
            units[known.code] = known
        windows: dict[int, list[ApplicationWindow]] = {}
        for window in session.scalars(select(ApplicationWindow).order_by(ApplicationWindow.id)):
            windows.setdefault(window.level, []).append(window)
        configs = {row.level: row.config for row in session.scalars(select(EligibilityRuleSet))}
        return cls(session, unit, today or local_today(), units, windows, configs)

    def open_windows(self, level: int) -> list[ApplicationWindow]:
        return sorted((w for w in self.windows.get(level, []) if w.opens_on <= self.today <= w.closes_on),
                      key=lambda w: PARTS.index(w.part) if w.part in PARTS else 9)

    def config(self, level: int) -> dict[str, Any]:
        return self.configs.get(level) or eligibility.default_config(level)

    def load_people(self, numbers: Iterable[str]) -> None:
        """Read the earlier applications of these ID numbers (in chunks: an import names thousands)."""
        wanted = sorted({normalise(n) for n in numbers if n})
        open_ids = {w.id for level in self.windows for w in self.open_windows(level)}
        for start in range(0, len(wanted), 500):
            rows = self.session.execute(
                select(Application.id, Application.id_number, Application.level, Application.status,
                       Application.window_id)
                .where(Application.id_number.in_(wanted[start:start + 500])).order_by(Application.id))
            for app_id, number, level, status, window_id in rows:
                if status in REJECTED:
                    self.rejected[(number, level)] = app_id
                elif window_id in open_ids:
                    self.taken.add((number, level))

    def check(self, row: dict[str, Any], where: str = "") -> tuple[Checked | None, list[tuple[str, str]]]:
        """Check one application's fields (`row`: column → value); `where` names it for a duplicate in a batch."""
        problems: list[tuple[str, str]] = []
        values = {column: cell_text(row.get(column)) for column in (*COLUMNS, *OPTIONAL)}
        for column in REQUIRED:
            if not values[column]:
                problems.append((column, "必填，不能为空"))
        person = None
        if values[ID_NUMBER]:
            try:
                person = check_id_number(values[ID_NUMBER], today=self.today)
            except IdNumberError as exc:
                problems.append((ID_NUMBER, exc.message))
        sex = values[SEX]
        if sex and sex not in ("男", "女"):
            problems.append((SEX, f"“{sex}”应为 男 或 女"))
        elif sex and person and sex != person.sex:
            problems.append((SEX, f"“{sex}”与身份证号所示性别（{person.sex}）不符"))
        if values[PHONE] and not PHONE_RE.match(values[PHONE]):
            problems.append((PHONE, f"“{values[PHONE]}”不是 11 位手机号"))
        cert_date = self._date(values, row, CERT_DATE, problems)
        prior_date = self._date(values, row, PRIOR_DATE, problems)
        years: int | None = None
        if values[YEARS]:
            try:
                years = int(float(values[YEARS]))
                if years < 0 or years > 70:
                    raise ValueError
            except ValueError:
                problems.append((YEARS, f"“{values[YEARS]}”应为 0–70 的整数"))
        level = None
        if values[LEVEL]:
            try:
                level = parse_level(values[LEVEL])
            except LevelError as exc:
                problems.append((LEVEL, exc.message))
        training = None
        if values[TRAINING_UNIT]:
            training = self.units.get(values[TRAINING_UNIT])
            if training is None:
                problems.append((TRAINING_UNIT, f"“{values[TRAINING_UNIT]}”不是已登记的培训鉴定试点单位"))
        if level is not None and level not in (self.unit.levels or []):
            problems.append((LEVEL, f"{self.unit.name} 未获准申报{level_name(level)}"))
        window = None
        open_now: list[ApplicationWindow] = []
        if level is not None:
            open_now = self.open_windows(level)
            if not open_now:
                problems.append((LEVEL, window_words(level, self.windows.get(level, []), self.today)))
            else:
                window = open_now[0]
        if person and level is not None:
            key = (person.number, level)
            if key in self.taken:
                problems.append((ID_NUMBER, f"{person.number} 在本次申报时间内已有{level_name(level)}的申请"))
            elif key in self.seen:
                problems.append((ID_NUMBER, f"{person.number} 的{level_name(level)}申请与{self.seen[key]}重复"))
        if problems or person is None or level is None or window is None or training is None or cert_date is None:
            return None, problems
        facts = eligibility.Facts(
            level=level, guard_cert_no=values[CERT_NO], guard_cert_date=cert_date, exam_date=window.judged_on,
            prior_cert_level=level + 1 if values[PRIOR_NO] and level < 5 else None, prior_cert_no=values[PRIOR_NO],
            prior_cert_date=prior_date, years_in_trade=float(years) if years is not None else None)
        decisions = eligibility.evaluate(self.config(level), facts)
        for decision in decisions:
            if decision.outcome == eligibility.FAIL:
                problems.append((RULE_COLUMNS.get(decision.rule, LEVEL), decision.words))
        exempt = eligibility.theory_exempt(decisions)
        parts = [w.part for w in open_now if not (exempt and w.part == "theory")]
        if not problems and not parts:
            problems.append((LEVEL, f"{level_name(level)}目前只开放理论知识申报，而申请人免考理论知识，无需申报"))
        if problems:
            return None, problems
        key = (person.number, level)
        self.seen[key] = where or "前一份申请"
        fields = {
            "name": values[NAME], "id_number": person.number, "sex": person.sex, "birth_date": person.birth_date,
            "phone": values[PHONE], "employer": values[EMPLOYER], "guard_cert_no": values[CERT_NO],
            "guard_cert_date": cert_date, "prior_cert_level": facts.prior_cert_level,
            "prior_cert_no": values[PRIOR_NO], "prior_cert_date": prior_date, "years_in_trade": years,
        }
        return Checked(fields, level, window, parts, training, [d.as_dict() for d in decisions], exempt,
                       self.rejected.get(key)), []

    def _date(self, values: dict[str, str], row: dict[str, Any], column: str,
              problems: list[tuple[str, str]]) -> dt.date | None:
        if not values[column]:
            return None
        try:
            day = parse_date(row.get(column))
        except ValueError as exc:
            problems.append((column, str(exc)))
            return None
        if day > self.today:
            problems.append((column, f"{day} 是将来的日期"))
            return None
        if day.year < 1950:
            problems.append((column, f"{day} 不可能"))
            return None
        return day
