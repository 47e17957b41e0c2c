"""Pickup lockers (pure): slot choice, wrong-code lockout, reconciliation (#5)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hall.iot.lockers import (
    SlotInfo,
    choose_slot,
    code_hash,
    reconcile_slots,
)


@given(st.lists(st.tuples(st.sampled_from(["open", "closed"]), st.booleans(), st.booleans()), max_size=20))
def test_choose_slot_picks_the_lowest_free_one(specs) -> None:
    slots = [SlotInfo(i + 1, door, occ, "d" if taken else None) for i, (door, occ, taken) in enumerate(specs)]
    free = [s.slot for s in slots if s.door == "closed" and not s.occupied and s.deposit_id is None]
    assert choose_slot(slots) == (min(free) if free else None)


def test_codes_are_hashed_with_the_hall_secret() -> None:
    a = code_hash(b"s1", "hn-tja", "12345678")
    assert a != code_hash(b"s2", "hn-tja", "12345678") and "12345678" not in a


def test_reconcile() -> None:
    fixes = reconcile_slots({1: False, 2: True, 3: True, 4: False, 5: True},
                            {1: ("d1", "stored"), 2: ("d2", "opening"), 4: ("d4", "picking"), 5: ("d5", "stored")})
    assert [(f.slot, f.action) for f in fixes] == [(1, "missing"), (2, "stored"), (3, "unexpected_item"),
                                                   (4, "picked_up")]
