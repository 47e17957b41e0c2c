"""Resident identity numbers (公民身份号码, GB 11643-1999), 18 characters.

Layout: 6-digit region code, 8-digit birth date (YYYYMMDD), 3-digit sequence (odd for men,
even for women), and an ISO 7064 MOD 11-2 check character (0-9 or X). Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from hall.errors import Forbidden

__all__ = [
    "EARLIEST_BIRTH",
    "InvalidIdNumber",
    "ResidentId",
    "age_on",
    "check_char",
    "make_resident_id",
    "parse_resident_id",
]

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CODES = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)
"""Birth dates before this are refused as implausible (the first possible date is accepted)."""

_SHAPE = re.compile(r"[1-9][0-9]{16}[0-9X]", re.ASCII)
_BODY = re.compile(r"[0-9]{17}", re.ASCII)

Reason = Literal["checksum", "length", "date", "format"]


class InvalidIdNumber(Forbidden):
    """A scanned ID number that cannot be a resident identity number.

    ``extra["reason"]`` says why (``checksum``, ``length``, ``date``, ``format``); the number
    itself is never part of the message.
    """

    code = "credential_invalid"

    def __init__(self, reason: Reason) -> None:
        self.reason = reason
        super().__init__("身份证号码无效", "invalid resident ID number", extra={"reason": reason})


@dataclass(frozen=True)
class ResidentId:
    number: str
    """Normalised: 18 characters, check character upper-case."""
    birth_date: date
    sex: Literal["M", "F"]


def check_char(body: str) -> str:
    """The check character for the first 17 digits of a number."""
    if not _BODY.fullmatch(body):
        raise ValueError("check_char needs exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return CHECK_CODES[total % 11]


def parse_resident_id(text: str) -> ResidentId:
    """Validate and parse a scanned number; raise ``InvalidIdNumber`` with the reason.

    Whitespace anywhere is ignored (scanners and typists add spaces) and a lower-case ``x``
    check character is accepted. Checked in order: length, format, birth date, checksum.
    Whether the birth date lies in the future is not checked here (no clock).
    """
    number = "".join(text.split()).upper()
    if len(number) != 18:
        raise InvalidIdNumber("length")
    if not _SHAPE.fullmatch(number):
        raise InvalidIdNumber("format")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("date") from None
    if birth < EARLIEST_BIRTH:
        raise InvalidIdNumber("date")
    if check_char(number[:17]) != number[17]:
        raise InvalidIdNumber("checksum")
    sex: Literal["M", "F"] = "M" if int(number[16]) % 2 else "F"
    return ResidentId(number=number, birth_date=birth, sex=sex)


def age_on(birth: date, today: date) -> int:
    """Completed years on ``today``.

    The year is complete on the birthday itself. Someone born on 29 February completes a year
    on 1 March in common years: 28 February is still before the birthday. Callers with a legal
    threshold that counts differently (e.g. from the day after the birthday) adjust ``today``.
    """
    if today < birth:
        raise ValueError("today is before the birth date")
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def make_resident_id(region: str, birth: date, seq: int) -> str:
    """Build a valid number for tests and simulators: ``seq`` 0-999 (odd: male, even: female)."""
    if not re.fullmatch(r"[1-9][0-9]{5}", region, re.ASCII):
        raise ValueError("region must be 6 digits, the first 1-9")
    if not 0 <= seq <= 999:
        raise ValueError("seq must be within 0-999")
    if birth < EARLIEST_BIRTH:
        raise ValueError("birth must not be before 1900-01-01")
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + check_char(body)
