"""Which waiting ticket a window calls next: a pure function, no I/O.

Order: a score of seconds waited plus a boost per priority class (green channel, appointment due,
transferred, normal). Because every ticket's score grows at the same rate, the order between two
tickets never changes while they wait: a normal ticket that has waited longer than a green ticket's
boost overtakes it (aging), and nobody starves. Two further rules bound unfairness:

* interleave: after ``max_priority_streak`` priority calls in a row at one window, the next call
  goes to the best normal ticket if one waits ("2 priority : 1 normal" with the default of 2);
* overtake bound: when a window calls ticket T, every ticket it could serve that was queued before
  T is *passed over* once. A ticket already passed over ``max_overtakes`` times is called first
  (the oldest of them), so no waiting ticket is passed over more than ``max_overtakes`` times.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

PRIORITY_CLASSES = ("green", "appointment", "transferred", "normal")


@dataclass(frozen=True, slots=True)
class Waiting:
    id: str
    service: str
    priority: str
    queued_ms: int
    overtaken: int = 0
    qseq: int = 0  # order of joining the queue, for tickets queued in the same millisecond

    @property
    def fifo_key(self) -> tuple[int, int]:
        return (self.queued_ms, self.qseq)


@dataclass(frozen=True)
class CallingPolicy:
    boost_s: Mapping[str, int] = field(
        default_factory=lambda: {"green": 1200, "appointment": 900, "transferred": 600, "normal": 0}
    )
    max_priority_streak: int = 2
    max_overtakes: int = 8

    def order_key(self, t: Waiting) -> tuple[int, int, int]:
        """Smaller is called first; independent of the current time (see module doc)."""
        return (t.queued_ms - self.boost_s.get(t.priority, 0) * 1000, t.queued_ms, t.qseq)


@dataclass(frozen=True, slots=True)
class Choice:
    ticket: Waiting
    priority_streak: int
    reason: str  # "forced" (overtake bound), "green_window", "interleave", "score"


def choose_next(
    waiting: Iterable[Waiting],
    services: Collection[str],
    policy: CallingPolicy,
    *,
    streak: int = 0,
    priority_window: bool = False,
) -> Choice | None:
    """Pick the next ticket for a window serving ``services``.

    ``waiting`` may be the whole queue or any subset that holds, per priority class, the head of
    that class (smallest ``fifo_key``) and the oldest ticket at the overtake bound: the answer
    depends on those tickets only.
    """
    eligible = [t for t in waiting if t.service in services]
    if not eligible:
        return None
    forced = [t for t in eligible if t.overtaken >= policy.max_overtakes]
    if forced:
        chosen, reason = min(forced, key=lambda t: t.fifo_key), "forced"
    else:
        greens = [t for t in eligible if t.priority == "green"] if priority_window else []
        if greens:
            chosen, reason = min(greens, key=lambda t: t.fifo_key), "green_window"
        else:
            chosen, reason = min(eligible, key=policy.order_key), "score"
            if chosen.priority != "normal" and streak >= policy.max_priority_streak:
                normals = [t for t in eligible if t.priority == "normal"]
                if normals:
                    chosen, reason = min(normals, key=policy.order_key), "interleave"
    new_streak = 0 if chosen.priority == "normal" else streak + 1
    return Choice(chosen, new_streak, reason)


def passed_over(waiting: Iterable[Waiting], services: Collection[str], chosen: Waiting) -> list[str]:
    """Tickets a call of ``chosen`` passes over: servable here and queued before it."""
    return [t.id for t in waiting if t.service in services and t.fifo_key < chosen.fifo_key and t.id != chosen.id]


def ahead_of(ticket: Waiting, waiting: Iterable[Waiting], policy: CallingPolicy) -> int:
    """How many tickets of the same service the policy would call before ``ticket``."""
    key = policy.order_key(ticket)
    return sum(1 for t in waiting if t.service == ticket.service and t.id != ticket.id and policy.order_key(t) < key)
