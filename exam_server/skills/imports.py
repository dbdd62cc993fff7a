"""Examiners' marks from an Excel workbook (the printed score sheets typed in by the centre), all or nothing.

One row per candidate, station and examiner:

    准考证号 | 考站编号 | 考评员账号 | 要点1 | 要点2 | … | 备注

The workbook is opened only through item_bank/archives.open_workbook. Every row is checked before anything is
stored; a file with any bad row stores nothing and the refusal names each row and field (the column header).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.sessions.models import ExamSession, Ticket
from exam_server.skills.errors import RowProblem, SkillError, SkillFileError
from exam_server.skills.models import EXAMINER, IMPORT, Examiner, SkillMark, Station
from exam_server.skills.operations import (
    MarkEntry,
    add_marks,
    check_criteria,
    check_skill_sitting,
    sitting_stations,
)
from item_bank.archives import ArchiveError, open_workbook
from item_bank.db import transaction

TICKET, STATION, EXAMINER_COLUMN, COMMENT = "准考证号", "考站编号", "考评员账号", "备注"
CRITERION = "要点{}"
MAX_ROWS = 20_000


@dataclass
class ScoreRow:
    row: int
    ticket: str
    station: str
    examiner: str
    values: list[Any]
    comment: str


def template_headers(stations: list[Station]) -> list[str]:
    """The header row: as many 要点 columns as the sitting's longest score sheet."""
    most = max((len(s.criteria) for s in stations), default=1)
    return [TICKET, STATION, EXAMINER_COLUMN, *(CRITERION.format(i) for i in range(1, most + 1)), COMMENT]


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def read_score_rows(path: Path | str, name: str) -> tuple[list[ScoreRow], list[RowProblem]]:
    """The rows of the first sheet; problems for a file that is no workbook, a missing column or a formula."""
    try:
        workbook = open_workbook(path, name=name)
    except ArchiveError as exc:
        return [], [RowProblem(name, None, "文件", exc.message)]
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [_cell(h) for h in next(rows, ())]
        problems = [RowProblem(name, 1, column, "缺少此列") for column in (TICKET, STATION, EXAMINER_COLUMN)
                    if column not in header]
        if problems:
            return [], problems
        at = {h: i for i, h in enumerate(header) if h}
        criteria = sorted((int(h[2:]), i) for h, i in at.items() if h.startswith("要点") and h[2:].isdigit())
        out: list[ScoreRow] = []
        for number, values in enumerate(rows, start=2):
            if number > MAX_ROWS + 1:
                problems.append(RowProblem(name, number, "-", f"超过 {MAX_ROWS} 行，请分开导入"))
                break
            cells = list(values) + [None] * max(0, len(header) - len(values))
            if all(_cell(c) == "" for c in cells):
                continue
            formulas = [header[i] for i, c in enumerate(cells[:len(header)]) if isinstance(c, str) and c.startswith("=")]
            for column in formulas:
                problems.append(RowProblem(name, number, column or "-", "不能使用公式，请填写数值"))
            given = [cells[i] for _, i in criteria]
            while given and _cell(given[-1]) == "":
                given.pop()
            out.append(ScoreRow(number, _cell(cells[at[TICKET]]), _cell(cells[at[STATION]]),
                                _cell(cells[at[EXAMINER_COLUMN]]), given,
                                _cell(cells[at[COMMENT]]) if COMMENT in at else ""))
        return out, problems
    finally:
        workbook.close()


def check_rows(session: Session, exam_session: ExamSession, rows: list[ScoreRow], name: str
               ) -> tuple[list[tuple[ScoreRow, Station, int, User]], list[RowProblem]]:
    """Every row checked against the sitting (candidate, station, examiner, marks, nothing scored twice)."""
    problems: list[RowProblem] = []
    stations = {s.code: s for s in sitting_stations(session, exam_session.id)}
    tickets = dict(session.execute(select(Ticket.number, Ticket.candidate_id).where(
        Ticket.session_id == exam_session.id, Ticket.status == "active")).all())
    users = {u.username: u for u in session.scalars(select(User).where(User.username.in_({r.examiner for r in rows})))}
    assigned = set(session.execute(select(Examiner.station_id, Examiner.user_id).where(
        Examiner.session_id == exam_session.id, Examiner.role == EXAMINER)).all())
    stored = set(session.execute(select(SkillMark.station_id, SkillMark.candidate_id, SkillMark.examiner_id).where(
        SkillMark.session_id == exam_session.id, SkillMark.kind == EXAMINER)).all())
    seen: dict[tuple[int, int, int], int] = {}
    good = []
    for row in rows:
        bad = len(problems)
        station = stations.get(row.station)
        candidate_id = tickets.get(row.ticket)
        user = users.get(row.examiner)
        if candidate_id is None:
            problems.append(RowProblem(name, row.row, TICKET, f"准考证号 {row.ticket or '（空）'} 不属于场次 {exam_session.code}"))
        if station is None:
            problems.append(RowProblem(name, row.row, STATION, f"场次 {exam_session.code} 没有考站 {row.station or '（空）'}"))
        if user is None:
            problems.append(RowProblem(name, row.row, EXAMINER_COLUMN, f"没有账号 {row.examiner or '（空）'}"))
        elif station is not None and (station.id, user.id) not in assigned:
            problems.append(RowProblem(name, row.row, EXAMINER_COLUMN,
                                       f"{user.username} 不是考站 {station.code} 的考评员"))
        if station is not None:
            try:
                check_criteria(station, row.values)
            except SkillError as exc:
                field = exc.details.get("field", "")
                column = next((CRITERION.format(i) for i, c in enumerate(station.criteria, start=1)
                               if c["name"] == field), CRITERION.format(len(row.values) + 1) if field == "criteria" else "要点")
                problems.append(RowProblem(name, row.row, column, exc.message))
        if len(problems) > bad or station is None or candidate_id is None or user is None:
            continue
        key = (station.id, candidate_id, user.id)
        if key in stored:
            problems.append(RowProblem(name, row.row, EXAMINER_COLUMN,
                                       f"{user.username} 已给准考证 {row.ticket} 在考站 {station.code} 评过分"))
        elif key in seen:
            problems.append(RowProblem(name, row.row, EXAMINER_COLUMN, f"与第 {seen[key]} 行重复"))
        else:
            seen[key] = row.row
            good.append((row, station, candidate_id, user))
    return good, problems


@dataclass
class ImportReport:
    file: str
    sitting: str
    marks: int
    # (ticket number, station code, examiner's login, total) of each mark stored, in file order.
    rows: list[tuple[str, str, str, float]]

    def lines(self) -> list[str]:
        return [f"{self.file}：考试场次 {self.sitting} 导入 {self.marks} 条考评员评分"]


def import_scores(session: Session, exam_session: ExamSession, path: Path | str, name: str, actor: str) -> ImportReport:
    """Store every row of the workbook as an examiner's marks, or none (SkillFileError names each bad row and
    field). Commits."""
    check_skill_sitting(exam_session)
    rows, problems = read_score_rows(path, name)
    if not problems and not rows:
        problems.append(RowProblem(name, None, "文件", "没有评分行"))
    good, more = check_rows(session, exam_session, rows, name) if not problems else ([], [])
    problems += more
    if problems:
        session.rollback()
        raise SkillFileError(name, problems, "未导入任何评分")
    with transaction(session):
        try:
            marks = add_marks(session, exam_session, [MarkEntry(station, candidate_id, user, row.values, row.comment,
                                                                IMPORT) for row, station, candidate_id, user in good],
                              actor)
        except SkillError as exc:  # a state the check could not see (a result released meanwhile)
            raise SkillFileError(name, [RowProblem(name, None, "-", exc.message)], "未导入任何评分") from exc
    stored = [(row.ticket, station.code, user.username, mark.total)
              for (row, station, _, user), mark in zip(good, marks, strict=True)]
    return ImportReport(name, exam_session.code, len(stored), stored)
