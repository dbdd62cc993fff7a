"""The refusal of a skill-assessment action, and of a file (stations, scores) with every bad row named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from item_bank.kernel import DomainError


class SkillError(DomainError):
    """A skill-assessment action refused, with a Chinese message; `status` is the HTTP code (400 a wrong input,
    404 not a sitting or station of theirs, 409 not in this state)."""

    default_code = "skill_refused"
    default_status = 400

    def __init__(self, message: str, status: int | None = None, **details: Any) -> None:
        super().__init__(message, status=status, **details)


@dataclass(frozen=True)
class RowProblem:
    """One bad row of a file: where (file, row, field) and why."""

    file: str
    row: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"第 {self.row} 行" if self.row is not None else "文件"
        return f"{self.file} {where}「{self.field}」：{self.message}"


class SkillFileError(SkillError):
    """A stations file or a score import refused as a whole; `problems` names every bad row and field."""

    default_code = "skill_file_refused"

    def __init__(self, file: str, problems: list[RowProblem], what: str) -> None:
        shown = "；".join(map(str, problems[:20])) + ("等" if len(problems) > 20 else "")
        super().__init__(f"{file} 有 {len(problems)} 处错误，{what}：{shown}",
                         problems=[p.__dict__ for p in problems])
        self.problems = problems
