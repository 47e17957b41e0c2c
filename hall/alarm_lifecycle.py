"""The alarm lifecycle as pure functions: no I/O, no database; times are Unix milliseconds.

States (ISA-18.2 style)::

    active ──ack──▶ acked ──clear──▶ closed
      │  ▲                            ▲
    clear│raise again                 │
      ▼  │                            │
    cleared ───────────ack────────────┘

``active`` is unacknowledged with the condition present, ``acked`` acknowledged with the condition
present, ``cleared`` the condition gone but nobody acknowledged it yet, ``closed`` the end. Raising
an open alarm again only counts it (a ``cleared`` one becomes ``active`` again). ``resolve`` lets
an operator close an alarm in any open state; if the condition is still there, the next raise is
a new alarm. Assigning, commenting and shelving do not change the state. A shelved alarm is not
announced again and does not escalate until the shelf ends. An ``active`` alarm escalates when
nobody acknowledged it within ``escalate_after_min[severity]`` and again every such interval.

Flood mode: when more than ``flood_count`` new alarms were raised in the last ``flood_window_min``
minutes, further new alarms are grouped under one flood alarm instead of being announced one by
one; the flood ends (hysteresis) when the raises in the window fall to half the threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from hall.errors import BadRequest, Conflict

OPEN_STATES = ("active", "acked", "cleared")
STATES = (*OPEN_STATES, "closed")
UNACKED = ("active", "cleared")
MAX_SHELVE_MIN = 24 * 60  # a shelf lasts at most a day: nuisance alarms must come back for review
MAX_TEXT = 500  # characters of a comment, a shelving reason or a resolution note
MINUTE_MS = 60_000

_STATE_ZH = {"active": "未确认", "acked": "已确认", "cleared": "已恢复待确认", "closed": "已关闭"}


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm's lifecycle fields (the row without its identity, source and detail)."""

    severity: str
    state: str
    raised_ms: int
    last_ms: int | None = None
    count: int = 1
    cleared_ms: int | None = None
    acked_by: str | None = None
    acked_ms: int | None = None
    assignee: str | None = None
    shelved_until_ms: int | None = None
    escalation: int = 0
    escalated_ms: int | None = None
    flood_id: str | None = None
    closed_ms: int | None = None
    closed_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def shelved(self, now_ms: int) -> bool:
        """Shelved right now (an expired shelf no longer counts, even before the sweep lifts it)."""
        return self.shelved_until_ms is not None and self.shelved_until_ms > now_ms


FIELDS = tuple(Alarm.__dataclass_fields__)


def _illegal(a: Alarm, action_zh: str, action: str) -> Conflict:
    return Conflict(f"报警{_STATE_ZH.get(a.state, a.state)}，不能{action_zh}",
                    f"an alarm in state {a.state!r} cannot be {action}", code="alarm_state",
                    extra={"state": a.state})


def _text(value: str | None, zh: str, en: str, code: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise BadRequest(f"请填写{zh}", f"{en} is required", code=code)
    if len(text) > MAX_TEXT:
        raise BadRequest(f"{zh}不能超过{MAX_TEXT}字", f"{en} is longer than {MAX_TEXT} characters",
                         code=f"{code.removesuffix('_required')}_too_long")
    return text


# --------------------------------------------------------------------------- the condition

def raise_again(a: Alarm, now_ms: int) -> tuple[Alarm, bool]:
    """The condition is reported again for an open alarm: count it. A ``cleared`` alarm becomes
    ``active`` again. Returns the alarm and whether to announce it (only a state change of an
    alarm that is not shelved is worth a message; a mere count is not)."""
    if not a.is_open:
        raise _illegal(a, "再次触发", "raised again")
    if a.state == "cleared":
        b = replace(a, state="active", count=a.count + 1, last_ms=now_ms, cleared_ms=None)
        return b, not a.shelved(now_ms)
    return replace(a, count=a.count + 1, last_ms=now_ms), False


def clear(a: Alarm, now_ms: int) -> Alarm | None:
    """The condition is gone: an acknowledged alarm closes, an unacknowledged one waits as
    ``cleared`` for someone to acknowledge it. None: nothing to do (already cleared or closed)."""
    if a.state == "active":
        return replace(a, state="cleared", cleared_ms=now_ms)
    if a.state == "acked":
        return replace(a, state="closed", cleared_ms=now_ms, closed_ms=now_ms, shelved_until_ms=None)
    return None


# --------------------------------------------------------------------------- operator actions

def ack(a: Alarm, now_ms: int, by: str) -> Alarm:
    """Acknowledge: ``active`` → ``acked``; ``cleared`` → ``closed`` (nothing left to do)."""
    if a.state == "active":
        return replace(a, state="acked", acked_by=by, acked_ms=now_ms)
    if a.state == "cleared":
        return replace(a, state="closed", acked_by=by, acked_ms=now_ms, closed_ms=now_ms, shelved_until_ms=None)
    raise _illegal(a, "确认", "acknowledged")


def assign(a: Alarm, assignee: str) -> Alarm:
    if not a.is_open:
        raise _illegal(a, "指派", "assigned")
    name = (assignee or "").strip()
    if not name:
        raise BadRequest("请指定处理人", "assignee is required", code="assignee_required")
    return replace(a, assignee=name)


def check_comment(text: str | None) -> str:
    """A comment is allowed in every state (also a closed alarm's follow-up); returns it trimmed."""
    return _text(text, "备注", "comment", "comment_required", required=True)


def shelve(a: Alarm, now_ms: int, minutes: int, reason: str | None) -> tuple[Alarm, str]:
    """Shelve for ``minutes`` (1 … MAX_SHELVE_MIN) with a reason; shelving again moves the end.
    Returns the alarm and the trimmed reason."""
    if not a.is_open:
        raise _illegal(a, "搁置", "shelved")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_SHELVE_MIN:
        raise BadRequest(f"搁置时长须为1至{MAX_SHELVE_MIN}分钟", f"minutes must be 1 to {MAX_SHELVE_MIN}",
                         code="bad_minutes")
    why = _text(reason, "搁置原因", "reason", "reason_required", required=True)
    return replace(a, shelved_until_ms=now_ms + minutes * MINUTE_MS), why


def unshelve(a: Alarm) -> Alarm:
    """Lift a shelf (also one that has just run out and the sweep has not lifted yet)."""
    if not a.is_open or a.shelved_until_ms is None:
        raise Conflict("报警未被搁置", "the alarm is not shelved", code="alarm_state",
                       extra={"state": a.state})
    return replace(a, shelved_until_ms=None)


def resolve(a: Alarm, now_ms: int, by: str, note: str | None = None) -> tuple[Alarm, str]:
    """An operator closes the alarm whatever its open state. Returns it and the trimmed note."""
    if not a.is_open:
        raise _illegal(a, "关闭", "resolved")
    text = _text(note, "处理说明", "note", "note_required", required=False)
    return replace(a, state="closed", closed_ms=now_ms, closed_by=by, shelved_until_ms=None), text


# --------------------------------------------------------------------------- time

def shelf_expired(a: Alarm, now_ms: int) -> bool:
    return a.is_open and a.shelved_until_ms is not None and a.shelved_until_ms <= now_ms


def escalation_due(a: Alarm, now_ms: int, escalate_after_min: Mapping[str, int], *,
                   grouped: bool = False) -> bool:
    """Due when the alarm is ``active`` (unacknowledged, condition present), not shelved, and
    nobody acknowledged it for ``escalate_after_min[severity]`` since it was raised or last
    escalated. A severity without an entry never escalates. ``grouped``: it sits under an open
    flood alarm, which escalates for the whole group."""
    minutes = escalate_after_min.get(a.severity)
    if a.state != "active" or not minutes or grouped or a.shelved(now_ms):
        return False
    since = max(a.raised_ms, a.escalated_ms or 0)
    return now_ms - since >= minutes * MINUTE_MS


def escalate(a: Alarm, now_ms: int) -> Alarm:
    if a.state != "active":
        raise _illegal(a, "升级", "escalated")
    return replace(a, escalation=a.escalation + 1, escalated_ms=now_ms)


# --------------------------------------------------------------------------- flood

def raises_in_window(raised_ms: Iterable[int], now_ms: int, window_min: int) -> int:
    """How many of these raise times lie in the window that ends now (``(now - window, now]``)."""
    start = now_ms - window_min * MINUTE_MS
    return sum(1 for t in raised_ms if start < t <= now_ms)


def flood_mode(raises: int, threshold: int, flooding: bool) -> bool:
    """Flood mode after this many raises in the window (the new one included): it starts above
    ``threshold`` and, once on, lasts while the raises stay above half of it (hysteresis)."""
    return raises > threshold // 2 if flooding else raises > threshold
