"""The report's figures, computed from what is stored: applications, attendance and part results per sitting,
the stored level outcomes, and the certificates, over a date range, within an organisation's scope.

Every figure is a count (or a sum of scores), never a rate: rates are worked out where they are shown
(`rate`), so two centres' figures add up to the province's by plain addition (reports/signing.py exports them,
operations.py sums them). The tables:

- applications by level, pilot unit and city: 申请 / 初审通过 / 复审通过 / 退回 / 待审 (by the day applied);
- attendance by level, part, sitting, site, pilot unit and city: 应考 (tickets), 实考, 缺考, 未开考, 免试,
  合格, 不合格, 待出成绩 and the score sum of those scored (by the sitting's date);
- level outcomes by level, pilot unit and city: outcomes, complete, passed (by the outcome's date);
- score distributions per level and part (ten 10-point bins), pass-rate trend per month and level;
- certificates issued by level (by the issue date).

A candidate counts as present (实考) at a sitting when their attempt was started or a part result of the sitting
stands for them (an observed skill assessment has results but no attempt); absent (缺考) when neither holds and
the sitting is over.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, Select, func, select, union
from sqlalchemy.orm import Session

from exam_server.applications.models import (
    CENTRE_APPROVED,
    REJECTED,
    SUBMITTED,
    TICKETED,
    UNIT_APPROVED,
    Application,
)
from exam_server.certificates.models import VALID, Certificate
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.delivery.models import FINALISED, IN_PROGRESS, PAUSED, SCORED, Attempt
from exam_server.delivery.models import SUBMITTED as ATTEMPT_SUBMITTED
from exam_server.organisations.models import Centre, Organisation, PilotUnit
from exam_server.organisations.scope import Scope
from exam_server.results.models import LevelOutcome, Result
from exam_server.sessions.models import (
    Candidate,
    ExamSession,
    Room,
    Seat,
    SessionExemption,
    SessionRoom,
    Site,
    Ticket,
)
from exam_server.sessions.operations import mask_id_number
from item_bank.db import utcnow
from item_bank.kernel import DomainError
from scoring.results import PART_NAMES

FORMAT = "baoan-report/1"
LEVEL_NAMES = {5: "初级保安员（五级）", 4: "中级保安员（四级）", 3: "高级保安员（三级）", 2: "保安师（二级）",
               1: "高级保安师（一级）"}
DIMENSIONS = {"level": "等级", "part": "考核科目", "sitting": "考试场次", "site": "考点", "unit": "试点单位",
              "city": "城市"}
APPLICATION_DIMENSIONS = ("level", "unit", "city")
ATTENDANCE_DIMENSIONS = ("level", "part", "sitting", "site", "unit", "city")
OUTCOME_DIMENSIONS = ("level", "unit", "city")
APPLICATION_COUNTS = ("applied", "unit_approved", "centre_approved", "rejected", "pending")
ATTENDANCE_COUNTS = ("scheduled", "present", "absent", "not_started", "exempt", "passed", "failed", "awaiting",
                     "scored", "score_sum")
OUTCOME_COUNTS = ("outcomes", "complete", "passed")
BINS = 10
STARTED = (IN_PROGRESS, PAUSED, ATTEMPT_SUBMITTED, SCORED, FINALISED)
NO_UNIT = ("-", "未经试点单位")
NO_CITY = ("-", "未注明城市")
NO_SITE = ("-", "未排考点")
MAX_DAYS = 3660


class ReportError(DomainError):
    """A report asked for wrongly (a date range that is not one, a level that does not exist)."""

    default_code = "report_refused"
    default_status = 400


@dataclass(frozen=True)
class Period:
    """Days from `start` to `end`, both included, in Beijing time."""

    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> Period:
        """From "YYYY-MM-DD" texts; refused with the field named when either is missing or wrong."""
        days = []
        for text, field in ((start, "起始日期"), (end, "截止日期")):
            try:
                days.append(dt.date.fromisoformat((text or "").strip()))
            except ValueError:
                raise ReportError(f"{field}无效：{text or '（未填）'}，应为 年-月-日，如 2026-01-31。",
                                  field=field) from None
        if days[0] > days[1]:
            raise ReportError(f"起始日期 {days[0]} 晚于截止日期 {days[1]}。", field="起始日期")
        if (days[1] - days[0]).days > MAX_DAYS:
            raise ReportError("统计区间不能超过 10 年。", field="截止日期")
        return cls(days[0], days[1])

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as UTC instants [from, to)."""
        lo = dt.datetime.combine(self.start, dt.time(), DISPLAY_ZONE)
        hi = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), DISPLAY_ZONE)
        return lo.astimezone(dt.UTC), hi.astimezone(dt.UTC)

    def as_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def check_level(level: int | None) -> int | None:
    if level is not None and level not in LEVEL_NAMES:
        raise ReportError(f"等级无效：{level}（应为 1-5）。", field="等级")
    return level


def rate(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when nothing was counted (shown as "—", never as 0%)."""
    return numerator / denominator if denominator else None


def centre_scope(session: Session, centre: Centre) -> Scope:
    """What one centre's report covers: its sittings, its units' applicants, its certificates (and, in a
    one-centre install, rows made before organisations existed, as that centre's staff see them)."""
    units = frozenset(session.scalars(select(PilotUnit.id).where(PilotUnit.centre_id == centre.id)))
    n_centres = session.scalar(select(func.count()).select_from(Centre)) or 0
    return Scope(centre_ids=frozenset({centre.id}), unit_ids=units, include_unassigned=n_centres == 1,
                 organisation_id=centre.id, label=f"鉴定中心 {centre.name}")


# ---------------------------------------------------------------- places


class _Places:
    """Names of units, cities and sites, read once per report."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(select(Organisation.id, Organisation.code, Organisation.name, Organisation.parent_id))
        self.orgs = {r.id: (r.code, r.name, r.parent_id) for r in rows}

    def unit(self, unit_id: int | None) -> tuple[str, str]:
        org = self.orgs.get(unit_id) if unit_id is not None else None
        return (org[0], org[1]) if org is not None else NO_UNIT

    def city(self, unit_id: int | None, fallback: str = "") -> tuple[str, str]:
        org = self.orgs.get(unit_id) if unit_id is not None else None
        city = self.orgs.get(org[2]) if org is not None and org[2] else None
        if city is not None:
            return city[1], city[1]
        return (fallback, fallback) if fallback else NO_CITY


def _units_by_person(session: Session, id_numbers: Select[Any] | CompoundSelect[Any]) -> dict[tuple[str, int], int]:
    """The pilot unit of each person's newest application per level (who presented them), for the people whose
    ID numbers `id_numbers` (a SELECT of one column) gives."""
    found: dict[tuple[str, int], int] = {}
    for id_number, level, unit_id in session.execute(
        select(Application.id_number, Application.level, Application.unit_id)
        .where(Application.id_number.in_(id_numbers)).order_by(Application.id)
    ):
        found[(id_number, level)] = unit_id
    return found


# ---------------------------------------------------------------- the tables


def _pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    return {a: b for a, b in rows}


def _tuples(rows: Iterable[Any]) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in rows}


def _empty(counts: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(counts, 0)


class _Table:
    """Rows of counts by (dimension, key), kept with their labels. Rows are first summed per combination of every
    dimension's key (a sitting of thousands has few combinations), then spread over the dimensions."""

    def __init__(self, dimensions: tuple[str, ...], counts: tuple[str, ...]) -> None:
        self.counts = counts
        self.rows: dict[str, dict[str, dict[str, Any]]] = {d: {} for d in dimensions}
        self._pending: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}

    def add(self, keys: dict[str, tuple[str, str]], **values: float) -> None:
        combo = tuple(keys[d] for d in self.rows)
        acc = self._pending.get(combo)
        if acc is None:
            acc = self._pending[combo] = _empty(self.counts)
        for name, value in values.items():
            acc[name] += value

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        for combo, acc in self._pending.items():
            for (_dim, rows), (key, label) in zip(self.rows.items(), combo, strict=True):
                row = rows.get(key)
                if row is None:
                    row = rows[key] = {"key": key, "label": label, **_empty(self.counts)}
                for name in self.counts:
                    row[name] += acc[name]
        self._pending.clear()
        return {d: _ordered(d, rows) for d, rows in self.rows.items()}


def _ordered(dim: str, rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    # Sittings in the order they were counted (by date); everything else by key.
    return list(rows.values()) if dim == "sitting" else [rows[k] for k in sorted(rows, key=_sort_key)]


def _sort_key(key: str) -> tuple[int, Any]:
    # Levels 5 → 1 (the order they open in), then everything else by its key.
    return (0, -int(key)) if key.isdigit() and len(key) == 1 else (1, key)


def _level_key(level: int) -> tuple[str, str]:
    return str(level), LEVEL_NAMES.get(level, f"{level} 级")


def applications(session: Session, scope: Scope, period: Period, level: int | None, places: _Places
                 ) -> dict[str, list[dict[str, Any]]]:
    lo, hi = period.bounds()
    query = select(Application.level, Application.unit_id, Application.status).where(
        scope.unit_clause(Application.unit_id), Application.created_at >= lo, Application.created_at < hi)
    if level is not None:
        query = query.where(Application.level == level)
    table = _Table(APPLICATION_DIMENSIONS, APPLICATION_COUNTS)
    for app_level, unit_id, status in session.execute(query):
        keys = {"level": _level_key(app_level), "unit": places.unit(unit_id), "city": places.city(unit_id)}
        table.add(keys, applied=1,
                  unit_approved=int(status in (UNIT_APPROVED, CENTRE_APPROVED, TICKETED)),
                  centre_approved=int(status in (CENTRE_APPROVED, TICKETED)),
                  rejected=int(status in REJECTED), pending=int(status in (SUBMITTED, UNIT_APPROVED)))
    return table.as_dict()


@dataclass
class _Seat:
    """One candidate at one sitting: where they sat, who presented them, what became of it."""

    candidate_id: int
    state: str  # present | absent | not_started | exempt
    site: tuple[str, str]
    unit_id: int | None
    city_fallback: str


def _bin(score: float) -> int:
    return min(int(score // (100 / BINS)), BINS - 1) if score > 0 else 0


def attendance(session: Session, scope: Scope, period: Period, level: int | None, places: _Places,
               now: dt.datetime) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any], list[dict[str, Any]]]:
    """The attendance table, the score distributions and the monthly pass-rate trend."""
    lo, hi = period.bounds()
    query = select(ExamSession).where(scope.centre_clause(ExamSession.centre_id), ExamSession.starts_at >= lo,
                                      ExamSession.starts_at < hi).order_by(ExamSession.starts_at, ExamSession.id)
    if level is not None:
        query = query.where(ExamSession.level == level)
    sittings = list(session.scalars(query))
    table = _Table(ATTENDANCE_DIMENSIONS, ATTENDANCE_COUNTS)
    distribution: dict[str, dict[str, Any]] = {}
    trend: dict[tuple[str, int], dict[str, Any]] = {}
    if not sittings:
        return table.as_dict(), distribution, []
    ids = [s.id for s in sittings]
    # Where each ticket sat, and who presented the candidate.
    seats: dict[int, dict[int, _Seat]] = defaultdict(dict)
    started: set[tuple[int, int]] = _tuples(session.execute(
        select(Attempt.session_id, Attempt.candidate_id).where(Attempt.session_id.in_(ids),
                                                                Attempt.status.in_(STARTED))))
    ticket_rows = session.execute(
        select(Ticket.session_id, Ticket.candidate_id, Ticket.application_id, Site.code, Site.name, Site.city,
               Candidate.id_number, Candidate.city)
        .join(Candidate, Candidate.id == Ticket.candidate_id)
        .outerjoin(Seat, Seat.id == Ticket.seat_id).outerjoin(Room, Room.id == Seat.room_id)
        .outerjoin(Site, Site.id == Room.site_id)
        .where(Ticket.session_id.in_(ids), Ticket.status == "active")
    ).all()
    application_units = _pairs(session.execute(
        select(Application.id, Application.unit_id).where(
            Application.id.in_({r.application_id for r in ticket_rows if r.application_id is not None}))))
    # A sitting's one site, for tickets without a seat (and for results without a ticket).
    only_site: dict[int, tuple[str, str]] = {}
    for sid, code, name in session.execute(
        select(SessionRoom.session_id, Site.code, Site.name).join(Room, Room.id == SessionRoom.room_id)
        .join(Site, Site.id == Room.site_id).where(SessionRoom.session_id.in_(ids)).distinct()
    ):
        only_site[sid] = (code, name) if sid not in only_site else NO_SITE
    # Current results of these sittings: the newest standing, not-exempt row per (sitting, candidate, part).
    # A sitting's results are of its part, except where a part is recorded under another name (the levels 2-1
    # thesis-and-defence part): each candidate's result of the sitting's own part if any, else the one there is.
    results: dict[tuple[int, int], dict[str, Any]] = defaultdict(dict)
    id_numbers: dict[int, str] = {}
    for row in session.execute(
        select(Result.id, Result.session_id, Result.candidate_id, Result.part, Result.score, Result.passed,
               Result.exempt, Candidate.id_number).join(Candidate, Candidate.id == Result.candidate_id)
        .where(Result.session_id.in_(ids), Result.superseded.is_(False)).order_by(Result.id)
    ):
        id_numbers[row.candidate_id] = row.id_number
        if not row.exempt:
            results[(row.session_id, row.candidate_id)][row.part] = row
    exempt: set[tuple[int, int]] = set()
    for sid, cid, number in session.execute(
        select(SessionExemption.session_id, SessionExemption.candidate_id, Candidate.id_number)
        .join(Candidate, Candidate.id == SessionExemption.candidate_id).where(SessionExemption.session_id.in_(ids))
    ):
        exempt.add((sid, cid))
        id_numbers[cid] = number
    by_person = _units_by_person(session, union(
        select(Candidate.id_number).join(Ticket, Ticket.candidate_id == Candidate.id).where(Ticket.session_id.in_(ids)),
        select(Candidate.id_number).join(Result, Result.candidate_id == Candidate.id).where(Result.session_id.in_(ids)),
        select(Candidate.id_number).join(SessionExemption, SessionExemption.candidate_id == Candidate.id)
        .where(SessionExemption.session_id.in_(ids))))
    by_id = {s.id: s for s in sittings}
    for r in ticket_rows:
        sitting = by_id[r.session_id]
        unit_id = application_units.get(r.application_id) or by_person.get((r.id_number, sitting.level))
        site = (r.code, r.name) if r.code else only_site.get(r.session_id, NO_SITE)
        seats[r.session_id][r.candidate_id] = _Seat(r.candidate_id, "", site, unit_id, r[5] or r[7] or "")
    for sid, cid in exempt:
        if cid not in seats[sid]:
            number = id_numbers.get(cid, "")
            seats[sid][cid] = _Seat(cid, "exempt", only_site.get(sid, NO_SITE),
                                    by_person.get((number, by_id[sid].level)), "")
    for sid, cid in results:
        if cid not in seats[sid]:
            number = id_numbers.get(cid, "")
            seats[sid][cid] = _Seat(cid, "", only_site.get(sid, NO_SITE), by_person.get((number, by_id[sid].level)),
                                    "")
    for sitting in sittings:
        end = sitting.ends_at + (dt.timedelta(seconds=sitting.duration_s) if sitting.timing == "own_start"
                                 else dt.timedelta())
        over = now >= end
        month = sitting.starts_at.astimezone(DISPLAY_ZONE).strftime("%Y-%m")
        base = {"level": _level_key(sitting.level), "sitting": (sitting.code, f"{sitting.code} {sitting.name}")}
        point = trend.setdefault((month, sitting.level), {"month": month, "level": str(sitting.level),
                                                          "present": 0, "passed": 0, "scored": 0})
        sid, part = sitting.id, sitting.part

        def bins(of: str, level: int = sitting.level) -> list[int]:
            return distribution.setdefault(f"{level}-{of}", {
                "label": f"{LEVEL_NAMES.get(level, level)} {PART_NAMES.get(of, of)}", "bins": [0] * BINS})["bins"]

        for cid, seat in seats[sid].items():
            got = results.get((sid, cid), {})
            result = got.get(part) or next(iter(got.values()), None)
            counted = result.part if result is not None else part
            keys = base | {"part": (counted, PART_NAMES.get(counted, counted)), "site": seat.site,
                           "unit": places.unit(seat.unit_id), "city": places.city(seat.unit_id, seat.city_fallback)}
            if seat.state == "exempt":
                table.add(keys, exempt=1)
                continue
            present = result is not None or (sid, cid) in started
            values: dict[str, float] = {"scheduled": 1}
            if present:
                values["present"] = 1
                point["present"] += 1
                if result is None or result.score is None:
                    values["awaiting"] = 1
                else:
                    values |= {"passed": int(result.passed), "failed": int(not result.passed), "scored": 1,
                               "score_sum": float(result.score)}
                    bins(counted)[_bin(result.score)] += 1
                    point["passed"] += int(result.passed)
                    point["scored"] += 1
            elif over:
                values["absent"] = 1
            else:
                values["not_started"] = 1
            table.add(keys, **values)
    distribution = {k: v for k, v in distribution.items() if sum(v["bins"])}
    return table.as_dict(), distribution, [trend[k] for k in sorted(trend)]


def outcomes(session: Session, scope: Scope, period: Period, level: int | None, places: _Places
             ) -> dict[str, list[dict[str, Any]]]:
    """Current stored level outcomes dated in the period, counted where the sitting that settled them belongs."""
    sitting_id = func.coalesce(LevelOutcome.skill_session_id, LevelOutcome.theory_session_id)
    query = (select(LevelOutcome.level, LevelOutcome.complete, LevelOutcome.passed, Candidate.id_number,
                    Candidate.city)
             .join(Candidate, Candidate.id == LevelOutcome.candidate_id)
             .outerjoin(ExamSession, ExamSession.id == sitting_id)
             .where(LevelOutcome.superseded.is_(False), scope.centre_clause(ExamSession.centre_id),
                    LevelOutcome.outcome_date >= period.start, LevelOutcome.outcome_date <= period.end))
    if level is not None:
        query = query.where(LevelOutcome.level == level)
    rows = session.execute(query).all()
    by_person = _units_by_person(session, query.with_only_columns(Candidate.id_number))
    table = _Table(OUTCOME_DIMENSIONS, OUTCOME_COUNTS)
    for r in rows:
        unit_id = by_person.get((r.id_number, r.level))
        table.add({"level": _level_key(r.level), "unit": places.unit(unit_id), "city": places.city(unit_id, r.city)},
                  outcomes=1, complete=int(r.complete), passed=int(r.passed and r.complete))
    return table.as_dict()


def certificates(session: Session, scope: Scope, period: Period, level: int | None) -> list[dict[str, Any]]:
    query = (select(Certificate.level, func.count()).where(
        scope.centre_clause(Certificate.centre_id), Certificate.issued_on >= period.start,
        Certificate.issued_on <= period.end).group_by(Certificate.level))
    if level is not None:
        query = query.where(Certificate.level == level)
    counts = _pairs(session.execute(query))
    return [{"key": str(lv), "label": LEVEL_NAMES[lv], "issued": counts[lv]} for lv in sorted(counts, reverse=True)]


def compute(session: Session, scope: Scope, period: Period, level: int | None = None,
            now: dt.datetime | None = None) -> dict[str, Any]:
    """Every figure of the report (a JSON-able dict of counts; see the module docstring)."""
    check_level(level)
    places = _Places(session)
    now = now or utcnow()
    table, distribution, trend = attendance(session, scope, period, level, places, now)
    return {
        "format": FORMAT,
        "period": period.as_dict(),
        "level": level,
        "scope": scope.label,
        "generated_at": now.isoformat(timespec="seconds"),
        "applications": applications(session, scope, period, level, places),
        "attendance": table,
        "outcomes": outcomes(session, scope, period, level, places),
        "distribution": distribution,
        "trend": trend,
        "certificates": certificates(session, scope, period, level),
    }


# ---------------------------------------------------------------- adding centres' figures up


def merge(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several reports' figures (the province's summary of its centres' files): counts add by
    table, dimension and key; bins add; trend points add by month and level."""
    merged: dict[str, Any] = {"applications": {}, "attendance": {}, "outcomes": {}, "distribution": {},
                              "trend": [], "certificates": []}
    trend: dict[tuple[str, str], dict[str, Any]] = {}
    certs: dict[str, dict[str, Any]] = {}
    for report in reports:
        for table, counts in (("applications", APPLICATION_COUNTS), ("attendance", ATTENDANCE_COUNTS),
                              ("outcomes", OUTCOME_COUNTS)):
            for dim, rows in report.get(table, {}).items():
                target = merged[table].setdefault(dim, {})
                for row in rows:
                    into = target.setdefault(row["key"], {"key": row["key"], "label": row["label"],
                                                          **_empty(counts)})
                    for name in counts:
                        into[name] += row.get(name, 0)
        for key, dist in report.get("distribution", {}).items():
            into = merged["distribution"].setdefault(key, {"label": dist["label"], "bins": [0] * BINS})
            into["bins"] = [a + b for a, b in zip(into["bins"], dist["bins"], strict=True)]
        for point in report.get("trend", []):
            into = trend.setdefault((point["month"], point["level"]), {**point, "present": 0, "passed": 0,
                                                                       "scored": 0})
            for name in ("present", "passed", "scored"):
                into[name] += point.get(name, 0)
        for row in report.get("certificates", []):
            certs.setdefault(row["key"], {**row, "issued": 0})["issued"] += row["issued"]
    for table in ("applications", "attendance", "outcomes"):
        merged[table] = {d: _ordered(d, rows) for d, rows in merged[table].items()}
    merged["trend"] = [trend[k] for k in sorted(trend)]
    merged["certificates"] = [certs[k] for k in sorted(certs, key=_sort_key)]
    return merged


# ---------------------------------------------------------------- certificate holders (补贴申领名册)


def holders(session: Session, scope: Scope, period: Period, level: int | None = None) -> list[dict[str, Any]]:
    """The valid certificates issued in the period, as a subsidy claim lists them (按规定给予补贴): name, masked ID
    number, level, certificate number, issue date, and the pilot unit that presented the holder."""
    query = (select(Certificate).where(scope.centre_clause(Certificate.centre_id), Certificate.status == VALID,
                                       Certificate.issued_on >= period.start, Certificate.issued_on <= period.end)
             .order_by(Certificate.issued_on, Certificate.number))
    if level is not None:
        query = query.where(Certificate.level == level)
    certs = list(session.scalars(query))
    by_person = _units_by_person(session, query.with_only_columns(Certificate.id_number))
    places = _Places(session)
    return [{"name": c.name, "id_number": mask_id_number(c.id_number), "level": LEVEL_NAMES.get(c.level, str(c.level)),
             "number": c.number, "issued_on": c.issued_on, "unit": places.unit(by_person.get((c.id_number, c.level)))[1]}
            for c in certs]
