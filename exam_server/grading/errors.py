"""The refusal of a grading action."""

from __future__ import annotations

from typing import Any

from item_bank.kernel import DomainError


class GradingError(DomainError):
    """A grading action refused, with a Chinese message the grader can act on; `status` is the HTTP code
    (400 a wrong input, 403 not theirs, 404 no such task or page, 409 not in this state)."""

    default_code = "grading_refused"
    default_status = 400

    def __init__(self, message: str, status: int | None = None, **details: Any) -> None:
        super().__init__(message, status=status, **details)
