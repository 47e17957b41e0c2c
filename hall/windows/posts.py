"""AB posts (AB岗): who should be at a window, who covers, when a post is vacant (空岗), and whether a
leave may be granted. Pure functions over plain data; ``staffing.py`` feeds them and acts.

A post is *expected* to be staffed when its window should be open now (a regular window during the
opening hours of one of its services; a tidal window once the policy opened it). An expected post
with nobody signed in is *unattended*; unattended longer than the limit it is *vacant* (空岗).
When a post is unattended its B is asked to cover at once, if B is available: present (not on
leave), not signed in at another window, and not asked for another post already. When B cannot
come, a standby clerk (备勤) who is available is asked instead. Leave is refused
when it would leave a post with both A and B away at the same time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Post:
    window: str
    a: str
    b: str | None = None

    def partner(self, clerk: str) -> str | None:
        if clerk == self.a:
            return self.b
        if clerk == self.b:
            return self.a
        return None


@dataclass(frozen=True, slots=True)
class Leave:
    clerk: str
    start_s: float
    end_s: float  # exclusive

    def overlaps(self, other: Leave) -> bool:
        return self.start_s < other.end_s and other.start_s < self.end_s

    def covers(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


@dataclass(frozen=True, slots=True)
class PostStatus:
    post: Post
    expected: bool  # the window should be staffed now
    on_duty: str | None  # who is signed in, if anyone
    unattended_since_s: float | None = None  # since when nobody is there (while expected)


@dataclass(frozen=True, slots=True)
class LeaveConflict:
    post: Post
    partner: str
    leave: Leave


def leave_conflict(new: Leave, leaves: Iterable[Leave], posts: Iterable[Post]) -> LeaveConflict | None:
    """The post that ``new`` would leave with A and B both away, with the partner's leave; None if fine.

    A clerk who is B of several posts is checked against every A they back.
    """
    if new.end_s <= new.start_s:
        return None
    existing = [lv for lv in leaves if lv.overlaps(new)]
    for post in posts:
        partner = post.partner(new.clerk)
        if partner is None:
            continue
        for lv in existing:
            if lv.clerk == partner:
                return LeaveConflict(post, partner, lv)
    return None


def on_leave(clerk: str, leaves: Iterable[Leave], now_s: float) -> bool:
    return any(lv.clerk == clerk and lv.covers(now_s) for lv in leaves)


def covers_to_ask(statuses: Sequence[PostStatus], available: Collection[str],
                  relief: Sequence[str] = ()) -> dict[str, str]:
    """Window -> the clerk to ask to cover it now.

    Every unattended expected post whose B is available gets its B; a B backing several posts is
    asked for one (the post unattended longest first). Then a post whose B cannot come gets an
    available ``relief`` clerk (备勤, in the given order) who is not asked elsewhere: the hall's
    standby clerks step in rather than leave a post empty (不得以任何理由空岗).
    """
    asked: dict[str, str] = {}
    taken: set[str] = set()
    waiting = [s for s in statuses if s.expected and s.on_duty is None]
    waiting.sort(key=lambda s: (s.unattended_since_s if s.unattended_since_s is not None else 0.0, s.post.window))
    for s in waiting:
        b = s.post.b
        if b is not None and b in available and b not in taken:
            asked[s.post.window] = b
            taken.add(b)
    for s in waiting:
        if s.post.window in asked:
            continue
        c = next((c for c in relief if c in available and c not in taken and c != s.post.a), None)
        if c is not None:
            asked[s.post.window] = c
            taken.add(c)
    return asked


def recall_from_tidal(statuses: Sequence[PostStatus], asked: Collection[str],
                      tidal_staff: dict[str, str], relief: Collection[str] = (),
                      left: Collection[str] = ()) -> dict[str, str]:
    """Tidal window -> the regular post its clerk is needed at: 不得以任何理由空岗 comes before an
    extra window. For every unattended expected post that nobody was asked to cover (``asked``:
    the windows with somebody on the way) whose B staffs an open tidal window, that window closes
    so B can come once the visitor in service is done. When B is at no tidal window and the post's
    clerk left it during the day (``left``: stepped away or signed out), a tidal window staffed by
    a ``relief`` (standby) clerk closes instead. ``tidal_staff`` is tidal window -> its clerk."""
    by_clerk = {c: w for w, c in tidal_staff.items()}
    out: dict[str, str] = {}
    for s in statuses:
        if not s.expected or s.on_duty is not None or s.post.window in asked or s.post.window in tidal_staff:
            continue
        tidal = by_clerk.get(s.post.b) if s.post.b else None
        if (tidal is None or tidal in out) and s.post.window in left:
            tidal = next((w for w, c in sorted(tidal_staff.items())
                          if c in relief and c != s.post.a and w not in out), None)
        if tidal is not None and tidal not in out:
            out[tidal] = s.post.window
    return out


def vacant(status: PostStatus, now_s: float, limit_s: float) -> bool:
    """空岗: expected, nobody there, for longer than the limit."""
    return (
        status.expected and status.on_duty is None and status.unattended_since_s is not None
        and now_s - status.unattended_since_s > limit_s
    )


def available_clerks(
    clerks: Iterable[str], signed_in: Collection[str], leaves: Iterable[Leave], now_s: float,
    away: Collection[str] = (),
) -> set[str]:
    """Clerks free to take a window now: not signed in anywhere, not on leave, not stepped away."""
    lv = list(leaves)
    return {c for c in clerks if c not in signed_in and c not in away and not on_leave(c, lv, now_s)}
