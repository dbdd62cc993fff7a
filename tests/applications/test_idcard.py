"""GB 11643-1999 check digits and birth dates of resident identity numbers."""

from __future__ import annotations

import datetime as dt

import pytest

from exam_server.applications.idcard import IdNumberError, check_digit, check_id_number, make_id_number


@pytest.mark.parametrize(("first17", "expected"), [
    ("11010519491231002", "X"),  # the standard's own examples
    ("44052418800101001", "4"),
])
def test_check_digit_of_the_standards_examples(first17: str, expected: str) -> None:
    assert check_digit(first17) == expected


def test_check_digit_is_iso_7064_mod_11_2() -> None:
    # Weights are 2^(17-i) mod 11; the check character makes the weighted sum of all 18 ≡ 1 (mod 11), X = 10.
    for n in range(0, 10**17, 7_919_000_000_013):
        first17 = f"{n:017d}"
        value = 10 if check_digit(first17) == "X" else int(check_digit(first17))
        assert (sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(first17)) + value) % 11 == 1


def test_a_valid_number_gives_birth_date_and_sex() -> None:
    info = check_id_number("11010519491231002X")
    assert info.birth_date == dt.date(1949, 12, 31) and info.sex == "女"
    assert check_id_number(" 11010519491231002x ").number == "11010519491231002X"  # lower-case x, spaces
    assert check_id_number(make_id_number("440106", dt.date(1990, 5, 6), 13)).sex == "男"


def test_every_wrong_check_digit_is_refused_and_names_the_right_one() -> None:
    good = "11010519491231002X"
    for wrong in "0123456789":
        with pytest.raises(IdNumberError, match=r"校验位错误.*应为 X"):
            check_id_number(good[:17] + wrong)


@pytest.mark.parametrize(("birth", "why"), [("19990230", "不存在"), ("19991301", "不存在"), ("18890101", "不可能")])
def test_an_impossible_birth_date_is_refused(birth: str, why: str) -> None:
    first17 = f"110105{birth}002"
    with pytest.raises(IdNumberError, match=why):
        check_id_number(first17 + check_digit(first17))


def test_a_birth_date_in_the_future_is_refused() -> None:
    first17 = "110105" + (dt.date.today() + dt.timedelta(days=3)).strftime("%Y%m%d") + "002"
    with pytest.raises(IdNumberError, match="不可能"):
        check_id_number(first17 + check_digit(first17))


@pytest.mark.parametrize("text", ["", "1101051949123100", "11010519491231002Y", "1101051949123100XX", "A1010519491231002X"])
def test_a_malformed_number_is_refused(text: str) -> None:
    with pytest.raises(IdNumberError, match="18 位"):
        check_id_number(text)
