"""The calling policy (hall.queue.policy): examples and hypothesis properties.

Times are Unix milliseconds, boosts seconds. ``qseq`` is unique per ticket, as in the database
(the hall's event seq when the ticket joined the queue).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given, settings, target
from hypothesis import strategies as st

from hall.queue.policy import (
    PRIORITY_CLASSES,
    CallingPolicy,
    Choice,
    Waiting,
    ahead_of,
    choose_next,
    passed_over,
)

MIN = 60_000
SERVICES = ("SB", "YB", "GJJ")
DEFAULT = CallingPolicy()
# A policy whose bounds never trigger: the pure score order.
SCORE_ONLY = CallingPolicy(max_priority_streak=10**6, max_overtakes=10**6)


def w(id_: str, queued_min: float, priority: str = "normal", *, service: str = "SB", overtaken: int = 0,
      qseq: int | None = None) -> Waiting:
    return Waiting(id_, service, priority, int(queued_min * MIN), overtaken,
                   qseq if qseq is not None else int(queued_min * 1000))


def pick(queue: list[Waiting], policy: CallingPolicy = DEFAULT, services: tuple[str, ...] = SERVICES,
         **kw) -> Choice:
    c = choose_next(queue, services, policy, **kw)
    assert c is not None
    return c


# --------------------------------------------------------------------------- strategies

@st.composite
def policies(draw, *, max_overtakes: int | None = None) -> CallingPolicy:
    boost = {p: draw(st.integers(0, 2400)) for p in ("green", "appointment", "transferred")}
    boost["normal"] = draw(st.sampled_from([0, 0, 0, 60]))
    return CallingPolicy(
        boost_s=boost,
        max_priority_streak=draw(st.integers(1, 4)),
        max_overtakes=max_overtakes if max_overtakes is not None else draw(st.integers(1, 10)),
    )


@st.composite
def queues(draw, *, min_size: int = 0, max_size: int = 25, max_overtaken: int = 12,
           priorities: tuple[str, ...] = PRIORITY_CLASSES) -> list[Waiting]:
    """Waiting tickets with unique ids and qseqs; queue times on a coarse grid so ties happen."""
    n = draw(st.integers(min_size, max_size))
    seqs = draw(st.permutations(range(1, n + 1)))
    overtakes = st.integers(0, max_overtaken) if max_overtaken and draw(st.booleans()) else st.just(0)
    out = []
    for i in range(n):
        out.append(Waiting(
            id=f"t{i}",
            service=draw(st.sampled_from(SERVICES)),
            priority=draw(st.sampled_from(priorities)),
            queued_ms=draw(st.integers(0, 90)) * 30_000,
            overtaken=draw(overtakes),
            qseq=seqs[i],
        ))
    return out


service_sets = st.sets(st.sampled_from(SERVICES), min_size=1).map(frozenset)


def score_at(t: Waiting, now_ms: int, policy: CallingPolicy) -> int:
    """How the module doc describes the order: ms waited plus the class boost (bigger first)."""
    return now_ms - t.queued_ms + policy.boost_s.get(t.priority, 0) * 1000


def oldest(ts) -> Waiting:
    return min(ts, key=lambda t: t.fifo_key)


# --------------------------------------------------------------------------- examples

def test_empty_queue_or_no_servable_ticket_gives_none() -> None:
    assert choose_next([], SERVICES, DEFAULT) is None
    assert choose_next([w("a", 0, service="YB")], {"SB"}, DEFAULT) is None


def test_oldest_first_within_a_class() -> None:
    q = [w("late", 10), w("early", 2), w("mid", 5)]
    c = pick(q)
    assert (c.ticket.id, c.reason, c.priority_streak) == ("early", "score", 0)


def test_same_millisecond_goes_by_queue_seq() -> None:
    q = [w("second", 3, qseq=8), w("first", 3, qseq=7)]
    assert pick(q).ticket.id == "first"


def test_green_before_an_older_normal_until_the_normal_waited_longer_than_the_boost() -> None:
    # default boost difference green - normal = 1200 s = 20 min
    assert pick([w("n", 0), w("g", 19, "green")]).ticket.id == "g"
    assert pick([w("n", 0), w("g", 21, "green")]).ticket.id == "n"
    # exactly equal scores: the earlier queue time wins
    assert pick([w("n", 0), w("g", 20, "green")]).ticket.id == "n"


def test_class_boosts_rank_green_appointment_transferred_normal() -> None:
    q = [w("n", 0), w("t", 0.5, "transferred"), w("a", 0.5, "appointment"), w("g", 0.5, "green")]
    order = []
    streak = 0
    while q:
        c = pick(q, SCORE_ONLY, streak=streak)
        order.append(c.ticket.id)
        streak = c.priority_streak
        q = [t for t in q if t.id != c.ticket.id]
    assert order == ["g", "a", "t", "n"]


def test_priority_streak_interleaves_a_normal_ticket() -> None:
    q = [w(f"g{i}", 10 + i, "green") for i in range(4)] + [w("n", 9)]
    c1 = pick(q, streak=0)
    assert (c1.ticket.id, c1.priority_streak) == ("g0", 1)
    q = [t for t in q if t.id != "g0"]
    c2 = pick(q, streak=c1.priority_streak)
    assert (c2.ticket.id, c2.priority_streak) == ("g1", 2)
    q = [t for t in q if t.id != "g1"]
    c3 = pick(q, streak=c2.priority_streak)
    assert (c3.ticket.id, c3.reason, c3.priority_streak) == ("n", "interleave", 0)


def test_streak_limit_without_a_waiting_normal_keeps_calling_priority() -> None:
    q = [w("g1", 1, "green"), w("a1", 2, "appointment")]
    c = pick(q, streak=5)
    assert (c.ticket.id, c.reason, c.priority_streak) == ("g1", "score", 6)


def test_interleave_calls_the_best_normal_by_score() -> None:
    q = [w("g", 25, "green"), w("n-late", 20), w("n-early", 10)]  # by score: g (5 min) before n-early
    c = pick(q, streak=DEFAULT.max_priority_streak)
    assert (c.ticket.id, c.reason) == ("n-early", "interleave")


def test_priority_window_prefers_green_even_over_a_long_waiting_normal() -> None:
    q = [w("n", 0), w("a", 20, "appointment"), w("g2", 100, "green"), w("g1", 90, "green")]
    c = pick(q, priority_window=True, streak=10)
    assert (c.ticket.id, c.reason, c.priority_streak) == ("g1", "green_window", 11)
    # without a green it is an ordinary window
    q2 = [t for t in q if t.priority != "green"]
    assert pick(q2, priority_window=True).ticket.id == "n"


def test_forced_rule_calls_the_oldest_ticket_at_the_overtake_bound_first() -> None:
    q = [
        w("g", 50, "green"),
        w("n-bound-late", 20, overtaken=DEFAULT.max_overtakes),
        w("n-bound", 10, overtaken=DEFAULT.max_overtakes + 1),
        w("n-old", 0, overtaken=DEFAULT.max_overtakes - 1),
    ]
    c = pick(q, priority_window=True)
    assert (c.ticket.id, c.reason, c.priority_streak) == ("n-bound", "forced", 0)


def test_forced_ignores_tickets_the_window_cannot_serve() -> None:
    q = [w("x", 0, service="YB", overtaken=99), w("s", 5)]
    c = pick(q, services=("SB",))
    assert (c.ticket.id, c.reason) == ("s", "score")


def test_passed_over_lists_servable_tickets_queued_before_the_chosen_one() -> None:
    q = [w("a", 0), w("b", 1, service="YB"), w("c", 2, service="GJJ"), w("g", 5, "green"), w("d", 6)]
    c = pick(q, services=("SB", "YB"))
    assert c.ticket.id == "g"
    assert sorted(passed_over(q, {"SB", "YB"}, c.ticket)) == ["a", "b"]
    assert passed_over(q, {"SB", "YB"}, q[0]) == []


def test_ahead_of_counts_same_service_tickets_the_policy_orders_first() -> None:
    q = [w("n0", 0), w("n1", 1), w("g", 10, "green"), w("y", 0, service="YB"), w("n2", 30)]
    assert ahead_of(q[0], q, DEFAULT) == 1  # the green one (10 min late, 20 min boost)
    assert ahead_of(q[2], q, DEFAULT) == 0
    assert ahead_of(q[4], q, DEFAULT) == 3
    assert ahead_of(q[3], q, DEFAULT) == 0
    # a ticket not (yet) in the list: as if it joined now
    assert ahead_of(w("new", 31), q, DEFAULT) == 4


def test_order_key_is_wait_minus_boost_then_fifo() -> None:
    assert DEFAULT.order_key(w("g", 30, "green", qseq=4)) == (30 * MIN - 1_200_000, 30 * MIN, 4)
    assert DEFAULT.order_key(w("n", 30, qseq=4)) == (30 * MIN, 30 * MIN, 4)
    # an unknown class gets no boost
    assert DEFAULT.order_key(w("x", 30, "vip", qseq=4)) == (30 * MIN, 30 * MIN, 4)


# --------------------------------------------------------------------------- properties

@given(queues(min_size=1, priorities=("normal",), max_overtaken=0), service_sets)
def test_prop_oldest_first_within_a_class(q: list[Waiting], services: frozenset[str]) -> None:
    for p in PRIORITY_CLASSES:
        qp = [replace(t, priority=p) for t in q]
        eligible = [t for t in qp if t.service in services]
        c = choose_next(qp, services, SCORE_ONLY)
        if not eligible:
            assert c is None
            continue
        assert c is not None and c.ticket == oldest(eligible)


@given(policies(), st.integers(0, 200_000), st.integers(0, 7_200_000), st.sampled_from(PRIORITY_CLASSES[:3]))
def test_prop_aging_priority_first_until_the_normal_waited_longer_than_the_boost_difference(
    policy: CallingPolicy, normal_at: int, later_ms: int, prio: str
) -> None:
    normal = Waiting("n", "SB", "normal", normal_at, 0, 1)
    other = Waiting("p", "SB", prio, normal_at + later_ms, 0, 2)
    diff_ms = (policy.boost_s[prio] - policy.boost_s["normal"]) * 1000
    c = choose_next([normal, other], {"SB"}, policy)
    assert c is not None
    if later_ms < diff_ms:
        assert c.ticket.id == "p"
    else:  # waited longer than (or exactly) the boost difference: the older normal ticket goes first
        assert c.ticket.id == "n"


@given(queues(min_size=1, max_overtaken=0), policies(), service_sets, st.integers(0, 10))
def test_prop_score_order_maximises_wait_plus_boost_at_any_time(
    q: list[Waiting], policy: CallingPolicy, services: frozenset[str], later_min: int
) -> None:
    eligible = [t for t in q if t.service in services]
    assume(eligible)
    c = choose_next(q, services, policy, streak=0)
    assert c is not None
    now = max(t.queued_ms for t in q) + later_min * MIN
    best = max(score_at(t, now, policy) for t in eligible)
    assert score_at(c.ticket, now, policy) == best
    # among equal scores, the earliest in the queue
    assert c.ticket == oldest(t for t in eligible if score_at(t, now, policy) == best)


@given(queues(min_size=1), policies(), service_sets, st.integers(0, 6), st.booleans())
def test_prop_priority_streak_interleave(
    q: list[Waiting], policy: CallingPolicy, services: frozenset[str], streak: int, priority_window: bool
) -> None:
    eligible = [t for t in q if t.service in services]
    assume(eligible)
    c = choose_next(q, services, policy, streak=streak, priority_window=priority_window)
    assert c is not None
    forced = [t for t in eligible if t.overtaken >= policy.max_overtakes]
    greens = [t for t in eligible if t.priority == "green"] if priority_window else []
    normals = [t for t in eligible if t.priority == "normal"]
    if forced or greens:
        return
    if streak >= policy.max_priority_streak and normals:
        assert c.ticket.priority == "normal"
        assert c.ticket == min(normals, key=policy.order_key)
        assert c.priority_streak == 0
    else:
        assert c.reason == "score"
        assert c.ticket == min(eligible, key=policy.order_key)
        assert c.priority_streak == (0 if c.ticket.priority == "normal" else streak + 1)


@given(queues(min_size=1, max_overtaken=0), policies(), service_sets, st.integers(0, 6))
def test_prop_priority_window_prefers_the_oldest_green(
    q: list[Waiting], policy: CallingPolicy, services: frozenset[str], streak: int
) -> None:
    eligible = [t for t in q if t.service in services]
    greens = [t for t in eligible if t.priority == "green"]
    assume(greens and not any(t.overtaken >= policy.max_overtakes for t in eligible))
    c = choose_next(q, services, policy, streak=streak, priority_window=True)
    assert c is not None
    assert (c.ticket, c.reason, c.priority_streak) == (oldest(greens), "green_window", streak + 1)


@given(queues(min_size=1), policies(), service_sets, st.integers(0, 6), st.booleans())
def test_prop_forced_rule_comes_first(
    q: list[Waiting], policy: CallingPolicy, services: frozenset[str], streak: int, priority_window: bool
) -> None:
    forced = [t for t in q if t.service in services and t.overtaken >= policy.max_overtakes]
    assume(forced)
    c = choose_next(q, services, policy, streak=streak, priority_window=priority_window)
    assert c is not None
    assert (c.ticket, c.reason) == (oldest(forced), "forced")
    assert c.priority_streak == (0 if c.ticket.priority == "normal" else streak + 1)
    # the forced ticket passes over nobody who is also at the bound
    passed = set(passed_over(q, services, c.ticket))
    assert not passed & {t.id for t in forced}


def required_candidates(q: list[Waiting], services: frozenset[str], policy: CallingPolicy) -> list[Waiting]:
    """What repo.call_candidates selects: per class the head, and the oldest ticket at the bound."""
    eligible = [t for t in q if t.service in services]
    out = {}
    for p in PRIORITY_CLASSES:
        cls = [t for t in eligible if t.priority == p]
        if cls:
            head = oldest(cls)
            out[head.id] = head
    forced = [t for t in eligible if t.overtaken >= policy.max_overtakes]
    if forced:
        f = oldest(forced)
        out[f.id] = f
    return list(out.values())


@given(queues(), policies(), service_sets, st.integers(0, 6), st.booleans(), st.data())
def test_prop_candidate_subset_gives_the_same_answer_as_the_full_queue(
    q: list[Waiting], policy: CallingPolicy, services: frozenset[str], streak: int, priority_window: bool,
    data: st.DataObject,
) -> None:
    full = choose_next(q, services, policy, streak=streak, priority_window=priority_window)
    required = required_candidates(q, services, policy)
    extra = data.draw(st.lists(st.sampled_from(q), unique_by=lambda t: t.id) if q else st.just([]))
    subset = {t.id: t for t in [*required, *extra]}
    order = data.draw(st.permutations(list(subset.values())))
    sub = choose_next(order, services, policy, streak=streak, priority_window=priority_window)
    assert sub == full


@given(queues(min_size=1), policies(), service_sets, st.integers(0, 6), st.booleans(),
       st.integers(-10**9, 10**9))
def test_prop_answer_does_not_depend_on_when_it_is_asked(
    q: list[Waiting], policy: CallingPolicy, services: frozenset[str], streak: int, priority_window: bool,
    shift_ms: int,
) -> None:
    """Moving every queue time by the same amount (asking earlier or later) changes nothing."""
    shifted = [replace(t, queued_ms=t.queued_ms + shift_ms) for t in q]
    a = choose_next(q, services, policy, streak=streak, priority_window=priority_window)
    b = choose_next(shifted, services, policy, streak=streak, priority_window=priority_window)
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert (a.ticket.id, a.reason, a.priority_streak) == (b.ticket.id, b.reason, b.priority_streak)


@given(queues(min_size=2, max_size=2, max_overtaken=0), policies(), st.integers(0, 10**8), st.integers(0, 10**8))
def test_prop_order_between_two_tickets_is_the_same_at_any_time(
    pair: list[Waiting], policy: CallingPolicy, t1: int, t2: int
) -> None:
    a, b = pair
    latest = max(a.queued_ms, b.queued_ms)
    now1, now2 = latest + t1, latest + t2
    d1 = score_at(a, now1, policy) - score_at(b, now1, policy)
    d2 = score_at(a, now2, policy) - score_at(b, now2, policy)
    assert (d1 > 0) == (d2 > 0) and (d1 == 0) == (d2 == 0)
    key_first = a.id if policy.order_key(a) < policy.order_key(b) else b.id
    if d1 != 0:
        assert key_first == (a.id if d1 > 0 else b.id)
    c = choose_next([a, b], SERVICES, policy)
    assert c is not None and c.ticket.id == key_first == choose_next([b, a], SERVICES, policy).ticket.id


@given(queues(min_size=1), service_sets, st.data())
def test_prop_passed_over(q: list[Waiting], services: frozenset[str], data: st.DataObject) -> None:
    chosen = data.draw(st.sampled_from(q))
    got = passed_over(q, services, chosen)
    assert chosen.id not in got
    assert len(got) == len(set(got))
    by_id = {t.id: t for t in q}
    for tid in got:
        assert by_id[tid].service in services and by_id[tid].fifo_key < chosen.fifo_key
    older = [t for t in q if t.service in services and t.fifo_key < chosen.fifo_key]
    assert len(got) == len(older)
    if chosen.service in services and chosen == oldest(t for t in q if t.service in services):
        assert got == []


@given(queues(min_size=1), policies())
def test_prop_ahead_of_is_the_position_in_the_service_queue(q: list[Waiting], policy: CallingPolicy) -> None:
    for s in SERVICES:
        qs = [t for t in q if t.service == s]
        positions = sorted(ahead_of(t, q, policy) for t in qs)
        assert positions == list(range(len(qs)))  # a strict total order, no ties
        if qs:
            c = choose_next(q, {s}, replace_bounds(policy))
            assert c is not None
            assert [t.id for t in qs if ahead_of(t, q, policy) == 0] == [c.ticket.id]


def replace_bounds(policy: CallingPolicy) -> CallingPolicy:
    return CallingPolicy(boost_s=dict(policy.boost_s), max_priority_streak=10**6, max_overtakes=10**6)


@given(queues(min_size=1, max_size=15), policies())
def test_prop_calling_one_service_in_score_order_follows_ahead_of(q: list[Waiting], policy: CallingPolicy) -> None:
    """With the unfairness bounds out of reach, a single-service window calls tickets in exactly the
    order ``ahead_of`` predicted when they were all waiting (an issued slip's "N ahead" is honest)."""
    q = [replace(t, service="SB") for t in q]
    predicted = {t.id: ahead_of(t, q, policy) for t in q}
    unbounded = replace_bounds(policy)
    calls = []
    rest = list(q)
    while rest:
        c = choose_next(rest, {"SB"}, unbounded)
        assert c is not None
        calls.append(c.ticket.id)
        rest = [t for t in rest if t.id != c.ticket.id]
    assert [predicted[i] for i in calls] == list(range(len(q)))


# -- simulation ---------------------------------------------------------------------------

WINDOWS = {  # services, priority window
    "1": (frozenset(SERVICES), False),
    "2": (frozenset({"SB"}), False),
    "3": (frozenset({"YB", "GJJ"}), False),
    "9": (frozenset(SERVICES), True),
}

steps = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.sampled_from(SERVICES), st.sampled_from(PRIORITY_CLASSES),
                  st.integers(0, 600)),
        st.tuples(st.just("call"), st.sampled_from(sorted(WINDOWS))),
        st.tuples(st.just("call"), st.sampled_from(sorted(WINDOWS))),
    ),
    max_size=120,
)


def simulate(policy: CallingPolicy, initial: list[Waiting], actions) -> tuple[int, int]:
    """Run the calls, with overtakes counted as the server does; return the worst overtaken count seen
    and the longest run of priority calls at one window made while a servable normal ticket waited
    (other than forced calls)."""
    queue = {t.id: t for t in initial}
    streak = dict.fromkeys(WINDOWS, 0)
    now = max((t.queued_ms for t in initial), default=0)
    seq = max((t.qseq for t in initial), default=0)
    worst = max((t.overtaken for t in initial), default=0)
    run = dict.fromkeys(WINDOWS, 0)
    worst_run = 0
    for i, act in enumerate(actions):
        if act[0] == "arrive":
            _, svc, prio, wait_s = act
            now += wait_s * 1000
            seq += 1
            # a transferred ticket keeps its (earlier) queue time and starts with no overtakes
            queued = now - wait_s * 2000 if prio == "transferred" else now
            queue[f"n{i}"] = Waiting(f"n{i}", svc, prio, queued, 0, seq)
            continue
        win = act[1]
        services, prio_window = WINDOWS[win]
        waiting = list(queue.values())
        c = choose_next(waiting, services, policy, streak=streak[win], priority_window=prio_window)
        if c is None:
            continue
        normal_waits = any(t.priority == "normal" and t.service in services for t in waiting)
        for tid in passed_over(waiting, services, c.ticket):
            queue[tid] = replace(queue[tid], overtaken=queue[tid].overtaken + 1)
            worst = max(worst, queue[tid].overtaken)
        del queue[c.ticket.id]
        streak[win] = c.priority_streak
        if c.ticket.priority != "normal" and normal_waits and c.reason == "score":
            run[win] += 1
            worst_run = max(worst_run, run[win])
        elif c.ticket.priority == "normal":
            run[win] = 0
    return worst, worst_run


@settings(max_examples=300)
@given(policies(), queues(max_size=20, max_overtaken=0), steps)
def test_prop_simulation_never_passes_a_ticket_over_more_than_max_overtakes(
    policy: CallingPolicy, initial: list[Waiting], actions
) -> None:
    worst, _ = simulate(policy, initial, actions)
    target(worst / policy.max_overtakes)
    assert worst <= policy.max_overtakes


@settings(max_examples=200)
@given(policies(max_overtakes=10**6), queues(max_size=20, max_overtaken=0), steps)
def test_prop_simulation_no_more_than_max_priority_streak_priority_calls_while_a_normal_waits(
    policy: CallingPolicy, initial: list[Waiting], actions
) -> None:
    # green-window calls at the priority window are exempt by design; score calls are bounded
    _, worst_run = simulate(policy, initial, actions)
    assert worst_run <= policy.max_priority_streak


@pytest.mark.parametrize("max_overtakes", [1, 2, 8])
def test_a_normal_ticket_under_a_flood_of_greens_is_called_within_the_bound(max_overtakes: int) -> None:
    policy = CallingPolicy(max_priority_streak=10**6, max_overtakes=max_overtakes)
    queue = [w("n", 0)]
    called_at = None
    for i in range(1, 50):
        queue.append(w(f"g{i}", i * 0.01, "green", qseq=i + 1))
        c = pick(queue, policy)
        for tid in passed_over(queue, SERVICES, c.ticket):
            queue = [replace(t, overtaken=t.overtaken + 1) if t.id == tid else t for t in queue]
        queue = [t for t in queue if t.id != c.ticket.id]
        if c.ticket.id == "n":
            called_at = i
            assert c.reason == "forced"
            break
    assert called_at == max_overtakes + 1
