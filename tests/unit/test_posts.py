"""AB posts (hall/windows/posts.py): leave that would empty a post is refused; no post stays vacant
past the limit while its B is available."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hall.windows.posts import (
    Leave,
    Post,
    PostStatus,
    available_clerks,
    covers_to_ask,
    leave_conflict,
    recall_from_tidal,
    vacant,
)

# As in the example hall: clerk14 backs two posts, clerk16 too.
POSTS = [Post("1", "c01", "c12"), Post("3", "c03", "c14"), Post("10", "c10", "c14"), Post("5", "c05", "c16"),
         Post("11", "c11", "c16"), Post("2", "c02", None)]
CLERKS = sorted({c for p in POSTS for c in (p.a, p.b) if c})
LIMIT_S = 30 * 60


leave_st = st.builds(
    lambda clerk, start, length: Leave(clerk, start * 3600.0, (start + length) * 3600.0),
    st.sampled_from(CLERKS), st.integers(0, 100), st.integers(1, 48),
)


@settings(max_examples=300, deadline=None)
@given(requests=st.lists(leave_st, max_size=30), probe=st.integers(0, 150))
def test_granted_leave_never_leaves_a_post_with_a_and_b_away(requests, probe):
    granted: list[Leave] = []
    for req in requests:
        clash = leave_conflict(req, granted, POSTS)
        if clash is None:
            granted.append(req)
        else:
            assert clash.leave in granted and clash.leave.overlaps(req)
            assert {req.clerk, clash.partner} == {clash.post.a, clash.post.b}
    t = probe * 3600.0
    away = {lv.clerk for lv in granted if lv.covers(t)}
    for p in POSTS:
        assert not (p.a in away and p.b in away), f"post {p.window}: A and B both on leave at {t}"


def test_leave_conflict_names_the_post_and_the_partner():
    granted = [Leave("c14", 0, 8 * 3600)]
    clash = leave_conflict(Leave("c10", 4 * 3600, 12 * 3600), granted, POSTS)
    assert clash is not None and (clash.post.window, clash.partner) == ("10", "c14")
    assert leave_conflict(Leave("c10", 8 * 3600, 12 * 3600), granted, POSTS) is None  # back to back is fine
    assert leave_conflict(Leave("c02", 0, 8 * 3600), granted, POSTS) is None  # no B: nobody to clash with


absence_st = st.lists(
    st.tuples(st.sampled_from([p.window for p in POSTS]), st.integers(0, 400), st.integers(1, 120)), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(absences=absence_st, b_leaves=st.lists(leave_st, max_size=3), delay=st.integers(0, 25))
def test_no_post_vacant_past_the_limit_while_its_b_is_available(absences, b_leaves, delay):
    """Minute by minute: A clerks step away; every minute the controller asks B (covers_to_ask); an
    asked B arrives ``delay`` minutes later (less than the limit) and stays until A is back. A post
    may be vacant only if its B was unavailable at some minute of the absence."""
    a_away = {p.window: set() for p in POSTS}
    for window, start, length in absences:
        a_away[window].update(range(start, start + length))
    leaves = [Leave(lv.clerk, lv.start_s / 60, lv.end_s / 60) for lv in b_leaves]  # in minutes here
    on_duty: dict[str, str | None] = {p.window: p.a for p in POSTS}
    since: dict[str, int | None] = {p.window: None for p in POSTS}
    coming: dict[str, tuple[str, int]] = {}  # window -> (B, arrives at minute)
    b_unavailable: dict[str, bool] = {p.window: False for p in POSTS}
    by_window = {p.window: p for p in POSTS}
    for minute in range(0, 540):
        # A comes and goes; a returning A relieves B.
        for p in POSTS:
            if minute in a_away[p.window]:
                if on_duty[p.window] == p.a:
                    on_duty[p.window], since[p.window], b_unavailable[p.window] = None, minute, False
            elif on_duty[p.window] != p.a:
                on_duty[p.window], since[p.window] = p.a, None
                coming.pop(p.window, None)
        for window, (b, at) in list(coming.items()):
            if minute >= at and on_duty[window] is None:
                on_duty[window] = b
                del coming[window]
        signed_in = {c for c in on_duty.values() if c} | {b for b, _ in coming.values()}
        free = available_clerks(CLERKS, signed_in, leaves, float(minute))
        statuses = [PostStatus(p, True, on_duty[p.window], since[p.window] * 60.0 if since[p.window] is not None
                               else None) for p in POSTS]
        for st_ in statuses:
            if st_.on_duty is None and (st_.post.b is None or st_.post.b not in free) and st_.post.window not in coming:
                b_unavailable[st_.post.window] = True
        for window, b in covers_to_ask(statuses, free).items():
            assert by_window[window].b == b and window not in coming
            coming[window] = (b, minute + delay)
        for st_ in statuses:
            if vacant(st_, minute * 60.0, LIMIT_S):
                assert b_unavailable[st_.post.window], f"post {st_.post.window} vacant at {minute} with B free"


def test_a_b_backing_two_posts_is_asked_for_the_one_unattended_longest():
    statuses = [PostStatus(POSTS[2], True, None, 100.0), PostStatus(POSTS[1], True, None, 50.0)]
    assert covers_to_ask(statuses, {"c14"}) == {"3": "c14"}
    assert covers_to_ask(statuses, set()) == {}
    assert covers_to_ask([PostStatus(POSTS[0], False, None, 0.0)], {"c12"}) == {}  # not expected now


def test_vacant_only_past_the_limit_and_only_while_expected():
    st_ = PostStatus(POSTS[0], True, None, 0.0)
    assert not vacant(st_, LIMIT_S, LIMIT_S)
    assert vacant(st_, LIMIT_S + 1, LIMIT_S)
    assert not vacant(PostStatus(POSTS[0], False, None, 0.0), LIMIT_S * 3, LIMIT_S)
    assert not vacant(PostStatus(POSTS[0], True, "c12", 0.0), LIMIT_S * 3, LIMIT_S)


def test_a_b_at_a_tidal_window_is_called_back_to_an_empty_post():
    """不得以任何理由空岗: the tidal window closes so its clerk can cover; not when B is on the way."""
    statuses = [PostStatus(POSTS[0], True, None, 0.0), PostStatus(POSTS[1], True, "c03", None)]
    assert recall_from_tidal(statuses, set(), {"7": "c12"}) == {"7": "1"}
    assert recall_from_tidal(statuses, {"1"}, {"7": "c12"}) == {}
    assert recall_from_tidal(statuses, set(), {"7": "c99"}) == {}
    assert recall_from_tidal([PostStatus(POSTS[0], False, None, 0.0)], set(), {"7": "c12"}) == {}


def test_a_standby_clerk_steps_in_when_the_b_cannot_come():
    """备勤顶岗: B first; a relief clerk only for a post whose B is unavailable, one post each."""
    statuses = [PostStatus(POSTS[0], True, None, 10.0), PostStatus(POSTS[1], True, None, 20.0),
                PostStatus(POSTS[2], True, None, 30.0)]
    # c14 backs 3 and 10: it goes to 3 (unattended longer), and the relief clerk to 10
    assert covers_to_ask(statuses, {"c12", "c14", "s1"}, ["s1"]) == {"1": "c12", "3": "c14", "10": "s1"}
    assert covers_to_ask(statuses, {"c14", "s1", "s2"}, ["s1", "s2"]) == {"3": "c14", "1": "s1", "10": "s2"}
    assert covers_to_ask(statuses, {"s1"}, ["s1"]) == {"1": "s1"}  # the post unattended longest first
    assert covers_to_ask(statuses, {"c14"}, ["c14"]) == {"3": "c14"}  # a B who is also relief is asked once
    assert covers_to_ask([PostStatus(Post("7", "s1", "s2"), True, None, 0.0)], {"s1"}, ["s1"]) == {}  # not A's own


def test_a_standby_clerk_at_a_tidal_window_is_called_back_only_for_a_post_its_clerk_left():
    statuses = [PostStatus(POSTS[0], True, None, 0.0)]
    assert recall_from_tidal(statuses, set(), {"7": "s1"}, relief={"s1"}, left={"1"}) == {"7": "1"}
    assert recall_from_tidal(statuses, set(), {"7": "s1"}, relief={"s1"}) == {}  # nobody opened it today
    assert recall_from_tidal(statuses, {"1"}, {"7": "s1"}, relief={"s1"}, left={"1"}) == {}  # somebody coming
    assert recall_from_tidal(statuses, set(), {"7": "s1", "8": "c12"}, relief={"s1"}, left={"1"}) == {"8": "1"}
