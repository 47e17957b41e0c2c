"""Whose address a forwarded request counts under (hall.web.forward.client_of): the visitor's, as
signed by the process that passed the request on; anything a client could send itself is ignored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hall.web.forward import CLIENT, _sign, client_of

SECRET = b"deployment-secret"


def test_a_signed_address_from_another_process_is_believed() -> None:
    header = {CLIENT: f"203.0.113.7 {_sign(SECRET, '203.0.113.7')}"}
    assert client_of(SECRET, "10.0.0.2", header) == "203.0.113.7"


def test_an_address_signed_with_another_secret_is_not() -> None:
    header = {CLIENT: f"203.0.113.7 {_sign(b'guessed', '203.0.113.7')}"}
    assert client_of(SECRET, "198.51.100.9", header) == "198.51.100.9"


def test_a_signature_moved_to_another_address_is_not() -> None:
    header = {CLIENT: f"203.0.113.8 {_sign(SECRET, '203.0.113.7')}"}
    assert client_of(SECRET, "198.51.100.9", header) == "198.51.100.9"


@given(st.text(max_size=80))
def test_whatever_a_client_sends_itself_counts_under_its_own_address(value: str) -> None:
    assert client_of(SECRET, "198.51.100.9", {CLIENT: value}) == "198.51.100.9"
    assert client_of(SECRET, "198.51.100.9", {}) == "198.51.100.9"
