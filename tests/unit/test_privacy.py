from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall.privacy import mask_id, mask_name, person_hash

SECRET = b"hall-test-secret"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张小三", "张*三"),
        ("欧阳小明", "欧**明"),
        ("买买提·艾力", "买****力"),
        ("张", "*"),
        ("", ""),
        (" 张小三 ", "张*三"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@given(st.text(min_size=2).filter(lambda s: len(s.strip()) >= 2 and "*" not in s))
def test_mask_name_never_shows_a_whole_name(name: str) -> None:
    masked = mask_name(name)
    assert masked != name.strip()
    assert len(masked) == len(name.strip())
    assert "*" in masked


def test_person_hash_is_hmac_sha256_of_the_normalised_number() -> None:
    expected = hmac.new(SECRET, b"11010519491231002X", hashlib.sha256).hexdigest()
    assert person_hash(SECRET, "11010519491231002X") == expected
    assert person_hash(SECRET, " 11010519491231002x\n") == expected
    assert len(expected) == 64


def test_person_hash_depends_on_the_secret_and_never_contains_the_number() -> None:
    a = person_hash(SECRET, "11010519491231002X")
    b = person_hash(b"another-hall", "11010519491231002X")
    assert a != b
    assert "11010519491231002" not in a
    assert a != hashlib.sha256(b"11010519491231002X").hexdigest()


def test_person_hash_refuses_an_empty_secret() -> None:
    with pytest.raises(ValueError):
        person_hash(b"", "11010519491231002X")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231002X", "110*************2X"),
        ("11010519491231002x", "110*************2X"),
        ("123456", "123*56"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_id(number: str, masked: str) -> None:
    assert mask_id(number) == masked
