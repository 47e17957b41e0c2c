"""Pickup lockers (pure): slot choice, wrong-code lockout, reconciliation (#5)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hall.iot.lockers import (
    LockState,
    SlotInfo,
    after_wrong_code,
    choose_slot,
    code_hash,
    locked,
    reconcile_slots,
)


@given(st.lists(st.tuples(st.sampled_from(["open", "closed"]), st.booleans(), st.booleans()), max_size=20))
def test_choose_slot_picks_the_lowest_free_one(specs) -> None:
    slots = [SlotInfo(i + 1, door, occ, "d" if taken else None) for i, (door, occ, taken) in enumerate(specs)]
    free = [s.slot for s in slots if s.door == "closed" and not s.occupied and s.deposit_id is None]
    assert choose_slot(slots) == (min(free) if free else None)


def test_the_tenth_wrong_code_locks_out_for_the_lockout() -> None:
    st_: LockState | None = None
    for i in range(9):
        st_ = after_wrong_code(st_, i * 1000, 10, 900_000, 900_000)
        assert locked(st_, i * 1000) is None
    st_ = after_wrong_code(st_, 9_000, 10, 900_000, 900_000)
    assert locked(st_, 9_000) == 900
    assert locked(st_, 9_000 + 900_000) is None


def test_wrong_codes_spread_out_do_not_add_up() -> None:
    st_ = None
    for i in range(30):
        st_ = after_wrong_code(st_, i * 200_000, 10, 900_000, 900_000)  # one every 200 s
        assert locked(st_, i * 200_000) is None


def test_codes_are_hashed_with_the_hall_secret() -> None:
    a = code_hash(b"s1", "hn-tja", "12345678")
    assert a != code_hash(b"s2", "hn-tja", "12345678") and "12345678" not in a


def test_reconcile() -> None:
    fixes = reconcile_slots({1: False, 2: True, 3: True, 4: False, 5: True},
                            {1: ("d1", "stored"), 2: ("d2", "opening"), 4: ("d4", "picking"), 5: ("d5", "stored")})
    assert [(f.slot, f.action) for f in fixes] == [(1, "missing"), (2, "stored"), (3, "unexpected_item"),
                                                   (4, "picked_up")]
