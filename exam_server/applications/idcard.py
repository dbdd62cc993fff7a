"""Resident identity numbers (公民身份号码, GB 11643-1999): 18 characters, the last a check digit (ISO 7064 MOD 11-2).

    info = check_id_number("11010519491231002X")   # IdNumberError (Chinese reason) if it is not a valid number
    info.birth_date, info.sex                      # 1949-12-31, "女"
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from item_bank.kernel import DomainError

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # check character for sum % 11 == 0, 1, 2, ...


class IdNumberError(DomainError):
    default_code = "bad_id_number"
    default_status = 400


@dataclass(frozen=True)
class IdNumber:
    number: str
    birth_date: dt.date
    sex: str  # 男 / 女, from the order code's parity


def check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalise(text: str) -> str:
    """Spaces dropped and a lower-case x raised: what people type for the same number."""
    return "".join(str(text).split()).upper()


def check_id_number(text: str, *, today: dt.date | None = None) -> IdNumber:
    """The number's birth date and sex; IdNumberError saying what is wrong (length, birth date, check digit)."""
    number = normalise(text)
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise IdNumberError(f"身份证号 {number or '(空)'} 应为 18 位（前 17 位数字，最后一位数字或 X）")
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdNumberError(f"身份证号 {number} 中的出生日期 {number[6:14]} 不存在") from None
    today = today or dt.date.today()
    if birth > today or birth.year < 1900:
        raise IdNumberError(f"身份证号 {number} 中的出生日期 {birth.isoformat()} 不可能")
    expected = check_digit(number[:17])
    if number[17] != expected:
        raise IdNumberError(f"身份证号 {number} 的校验位错误（按 GB 11643 应为 {expected}）")
    return IdNumber(number, birth, "男" if int(number[16]) % 2 else "女")


def make_id_number(region: str, birth: dt.date, order: int) -> str:
    """A valid number for `region` (6 digits), `birth` and a 3-digit `order` (odd = 男): for tests and benchmarks."""
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + check_digit(first17)
