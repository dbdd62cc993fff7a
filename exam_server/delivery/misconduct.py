"""Misconduct (违纪) codes a proctor chooses when force-submitting, kept as data (misconduct.json), and the one
Chinese sentence that says how an attempt was submitted: the candidate's screen, the proctor's log and the
results list all show it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("misconduct.json")
SUBMIT_KINDS = {"candidate": "考生交卷", "deadline": "时间到自动交卷", "proctor": "监考员强制交卷"}


@cache
def misconduct_codes() -> dict[str, str]:
    """Code → Chinese label, in the file's order."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return {str(row["code"]): str(row["label"]) for row in data["codes"]}


def misconduct_label(code: str) -> str:
    return misconduct_codes().get(code, code)


def submit_description(kind: str, note: str = "", misconduct: str = "") -> str:
    """How an attempt was submitted, in Chinese: "监考员强制交卷（违纪：夹带…）：原因" for a forced one."""
    text = SUBMIT_KINDS.get(kind, kind or "交卷")
    if misconduct:
        text += f"（违纪：{misconduct_label(misconduct)}）"
    if note and kind == "proctor":
        text += f"：{note}"
    return text


def describe_attempt(attempt: Any) -> str:
    """`submit_description` of an attempt (anything with submit_reason, submit_note and misconduct_code)."""
    return submit_description(attempt.submit_reason or "", attempt.submit_note or "", attempt.misconduct_code or "")
