from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall.errors import Forbidden
from hall.queue.idcard import (
    InvalidIdNumber,
    ResidentId,
    age_on,
    check_char,
    make_resident_id,
    parse_resident_id,
)

# The worked example of GB 11643-1999: a woman born 1949-12-31, check character X.
STANDARD_EXAMPLE = "11010519491231002X"


def reason_of(text: str) -> str:
    with pytest.raises(InvalidIdNumber) as info:
        parse_resident_id(text)
    return info.value.extra["reason"]


def test_standard_example_parses() -> None:
    rid = parse_resident_id(STANDARD_EXAMPLE)
    assert rid == ResidentId(number=STANDARD_EXAMPLE, birth_date=date(1949, 12, 31), sex="F")


def test_lower_case_x_and_whitespace_are_accepted_and_normalised() -> None:
    rid = parse_resident_id("  110105 19491231 002x\n")
    assert rid.number == STANDARD_EXAMPLE


def test_sex_comes_from_the_17th_digit() -> None:
    assert parse_resident_id(make_resident_id("340102", date(1990, 1, 1), 123)).sex == "M"
    assert parse_resident_id(make_resident_id("340102", date(1990, 1, 1), 124)).sex == "F"


def test_digit_check_character() -> None:
    number = make_resident_id("340102", date(1990, 1, 1), 123)
    assert number == "340102199001011236"
    assert parse_resident_id(number).birth_date == date(1990, 1, 1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "length"),
        ("11010519491231002", "length"),
        ("11010519491231002X0", "length"),
        ("340102900101123", "length"),  # the old 15-digit form is not accepted
        ("01010519491231002X", "format"),  # region must not start with 0
        ("1101051949123100XX", "format"),
        ("11010519491231002Y", "format"),
        ("X10105194912310021", "format"),
        ("１１０１０５１９４９１２３１００２Ｘ", "format"),  # full-width digits
        ("110105194902300021", "date"),  # 30 February
        ("110105194913010021", "date"),  # month 13
        ("110105194900010021", "date"),  # month 0
        ("440524188001010014", "date"),  # a valid checksum, but born before 1900
        ("110105194912310021", "checksum"),
        ("11010519491231002 1", "checksum"),
    ],
)
def test_invalid_numbers_name_the_reason(text: str, reason: str) -> None:
    assert reason_of(text) == reason


def test_error_is_a_credential_refusal_without_the_number() -> None:
    with pytest.raises(InvalidIdNumber) as info:
        parse_resident_id("110105194912310021")
    err = info.value
    assert isinstance(err, Forbidden)
    assert err.status == 403
    assert err.code == "credential_invalid"
    assert err.body() == {
        "error": "credential_invalid",
        "detail": "身份证号码无效 / invalid resident ID number",
        "reason": "checksum",
    }
    assert "110105" not in str(err)


def test_leap_day_birth_is_a_real_date_only_in_leap_years() -> None:
    assert parse_resident_id(make_resident_id("110105", date(2000, 2, 29), 1)).birth_date == date(2000, 2, 29)
    body = "11010519010229001"  # 1901 is a common year
    assert reason_of(body + check_char(body)) == "date"


def test_make_resident_id_rejects_bad_parts() -> None:
    with pytest.raises(ValueError):
        make_resident_id("040102", date(1990, 1, 1), 1)
    with pytest.raises(ValueError):
        make_resident_id("34010", date(1990, 1, 1), 1)
    with pytest.raises(ValueError):
        make_resident_id("340102", date(1990, 1, 1), 1000)
    with pytest.raises(ValueError):
        make_resident_id("340102", date(1899, 12, 31), 1)


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(1990, 6, 15), date(2026, 6, 14), 35),
        (date(1990, 6, 15), date(2026, 6, 15), 36),
        (date(1990, 6, 15), date(2026, 6, 16), 36),
        (date(1990, 6, 15), date(1990, 6, 15), 0),
        (date(1990, 12, 31), date(2027, 1, 1), 36),
        # 29 February: in common years the year completes on 1 March.
        (date(2000, 2, 29), date(2023, 2, 28), 22),
        (date(2000, 2, 29), date(2023, 3, 1), 23),
        (date(2000, 2, 29), date(2024, 2, 28), 23),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
    ],
)
def test_age_on(birth: date, today: date, age: int) -> None:
    assert age_on(birth, today) == age


def test_age_on_refuses_a_date_before_birth() -> None:
    with pytest.raises(ValueError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


regions = st.integers(min_value=100000, max_value=999999).map(str)
births = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
seqs = st.integers(min_value=0, max_value=999)


@given(region=regions, birth=births, seq=seqs)
def test_made_numbers_parse_back(region: str, birth: date, seq: int) -> None:
    number = make_resident_id(region, birth, seq)
    rid = parse_resident_id(number)
    assert rid.number == number
    assert rid.birth_date == birth
    assert rid.sex == ("M" if seq % 2 else "F")


@given(region=regions, birth=births, seq=seqs, data=st.data())
def test_changing_any_one_character_breaks_the_checksum(
    region: str, birth: date, seq: int, data: st.DataObject
) -> None:
    number = make_resident_id(region, birth, seq)
    pos = data.draw(st.integers(min_value=0, max_value=17), label="position")
    choices = "0123456789X" if pos == 17 else "0123456789"
    new = data.draw(st.sampled_from([c for c in choices if c != number[pos]]), label="new char")
    changed = number[:pos] + new + number[pos + 1 :]
    # MOD 11-2 detects every single-character substitution: the check no longer matches...
    assert check_char(changed[:17]) != changed[17]
    # ...so the number is refused (for its region or date first, when the change breaks those).
    with pytest.raises(InvalidIdNumber):
        parse_resident_id(changed)
