"""Device connectivity (pure): last wills, heartbeats, reboots, no flapping (#5)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hall.iot.twins import Change, Conn, ConnRules, on_message, on_status, tick

RULES = ConnRules(heartbeat_ms=30_000, offline_after_missed=3, online_after_good=2, reboot_grace_ms=10_000)


def online_at(boot: int = 1, now: int = 0) -> Conn:
    c = on_status(Conn(), True, boot, now, RULES).conn
    c = on_message(c, now + 1, RULES).conn
    assert c.online
    return c


def test_online_after_two_good_messages_not_one() -> None:
    step = on_status(Conn(), True, 5, 0, RULES)
    assert not step.conn.online and step.change is None
    step = on_message(step.conn, 100, RULES)
    assert step.conn.online and step.change is Change.ONLINE


def test_last_will_waits_out_the_reboot_grace() -> None:
    c = online_at()
    step = on_status(c, False, 1, 1_000, RULES)
    assert step.conn.online and step.change is None  # not yet
    assert tick(step.conn, 10_999, RULES).change is None
    gone = tick(step.conn, 11_000, RULES)
    assert gone.change is Change.OFFLINE and gone.conn.reason == "last_will"


def test_quick_reboot_is_not_offline() -> None:
    c = online_at(boot=1)
    c = on_status(c, False, 1, 1_000, RULES).conn  # the old session's will, fired at takeover
    step = on_status(c, True, 2, 1_200, RULES)
    assert step.change is Change.REBOOTED and step.conn.online and step.conn.boot == 2
    assert tick(step.conn, 50_000, RULES).change is None


def test_a_late_will_of_an_older_boot_is_ignored() -> None:
    c = online_at(boot=7)
    step = on_status(c, False, 6, 2_000, RULES)
    assert step.stale and step.conn == c
    assert tick(step.conn, 30_000, RULES).change is None


def test_missed_heartbeats_take_it_offline() -> None:
    c = online_at(now=0)
    assert tick(c, 90_001, RULES).change is None  # last seen at 1 ms: 90 s of silence is the limit
    step = tick(c, 90_002, RULES)
    assert step.change is Change.OFFLINE and step.conn.reason == "heartbeat"


events = st.lists(
    st.tuples(st.sampled_from(["status_on", "status_off", "msg", "tick"]), st.integers(0, 3), st.integers(0, 40_000)),
    max_size=60,
)


@settings(max_examples=300)
@given(events)
def test_changes_alternate_and_stale_wills_never_take_it_offline(evs) -> None:
    """Online/offline changes alternate, REBOOTED only while online; a will of a boot other than
    the current one never causes OFFLINE; one good message never brings an offline device back."""
    c, now, last = Conn(), 0, None
    for kind, boot, dt in evs:
        now += dt
        before = c
        if kind == "status_on":
            step = on_status(c, True, boot, now, RULES)
        elif kind == "status_off":
            step = on_status(c, False, boot, now, RULES)
        elif kind == "msg":
            step = on_message(c, now, RULES)
        else:
            step = tick(c, now, RULES)
        c = step.conn
        if step.change in (Change.ONLINE, Change.OFFLINE):
            assert step.change != last
            last = step.change
            assert c.online == (step.change is Change.ONLINE)
        if step.change is Change.REBOOTED:
            assert before.online and c.online
        if kind == "status_off" and before.boot is not None and boot != before.boot:
            assert step.change is not Change.OFFLINE
        if step.change is Change.ONLINE:
            assert before.good + 1 >= RULES.online_after_good  # never on one good message


@given(st.integers(1, 10**6), st.integers(0, 9_999))
def test_no_offline_within_the_grace_whatever_the_timing(boot: int, within: int) -> None:
    c = online_at(boot)
    c = on_status(c, False, boot, 5_000, RULES).conn
    assert tick(c, 5_000 + within, RULES).change is None
