"""The refusals of the candidate's wire protocol (DESIGN.md §7): a stable code, the sentence the candidate reads,
and the HTTP status the exam page's fallback answers with."""

from __future__ import annotations

from typing import Any

from item_bank.kernel import DomainError

MESSAGES = {
    "not_your_attempt": "这不是您的考试。",
    "not_in_progress": "考试当前不在进行中。",
    "not_started": "考试尚未开始。",
    "not_checked_in": "您尚未经监考员核验入场，请举手示意监考员。",
    "deadline_passed": "考试时间已到，答案已自动交卷，此次修改未被保存。",
    "paused": "考试已暂停，请等待监考员恢复考试。",
    "invalid_value": "答案格式不正确。",
    "unknown_item": "本试卷中没有这道题。",
    "moved": "您的考试已转移到另一台电脑上继续。",
    "awaiting_move": "您的考试正在另一台电脑上进行。请举手，监考员确认后才能在这台电脑上继续。",
    "submitted": "您已交卷。",
    "value_too_large": "答案过长，请删减后再保存。",
    "payload_too_large": "提交的内容过大，未被保存。请删减答案后再保存。",
    "too_many_sockets": "您同时打开的考试页面过多。请关闭其他窗口或标签页中的考试页面，然后刷新本页。",
    "late_entry_closed": "已过开考后的入场截止时间，不能开始考试。请举手，由监考员决定是否准许入场。",
    "submit_too_early": "还未到允许交卷的时间，请继续作答。",
}

# A refusal about who is asking is 403, one about what was sent 400; every other one is a conflict with
# the attempt's state (409). Sizes: a body too large to read is 413, an answer longer than its item allows 422.
STATUS = {
    "not_your_attempt": 403,
    "moved": 403,
    "awaiting_move": 403,
    "invalid_value": 400,
    "unknown_item": 400,
    "payload_too_large": 413,
    "value_too_large": 422,
    "too_many_sockets": 429,
}


def status_of(code: str) -> int:
    """The HTTP status of a refusal `code`."""
    return STATUS.get(code, 409)


class DeliveryError(DomainError):
    """A refusal the candidate's screen can show: a stable `code` and a Chinese `message`."""

    default_code = "refused"
    default_status = 409

    def __init__(self, code: str, message: str | None = None, **details: Any) -> None:
        super().__init__(message or MESSAGES.get(code, code), code=code, status=status_of(code), **details)

    def ack(self) -> dict[str, Any]:
        """The refusal with what the page may show beside it (`opens_at` of `submit_too_early`)."""
        return {**super().ack(), **self.details}
