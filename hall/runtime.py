"""What a use case needs to know about one hall at run time: its configuration, clock and caches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hall.clock import Clock
from hall.queue.policy import CallingPolicy

if TYPE_CHECKING:
    from hall.hallconfig import HallCfg


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a signed-in staff member. Roles: clerk, duty_officer, facility, manager, admin."""

    username: str
    role: str
    hall_id: str | None = None
    display_name: str = ""

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("manager", "admin")


@dataclass
class _Cached:
    value: Any
    until: float
    hall_until: float


@dataclass
class HallRuntime:
    cfg: HallCfg
    clock: Clock
    secret: bytes
    policy: CallingPolicy = field(init=False)
    _cache: dict[str, _Cached] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        c = self.cfg.calling
        self.policy = CallingPolicy(
            boost_s=dict(c.boost_s), max_priority_streak=c.max_priority_streak, max_overtakes=c.max_overtakes
        )

    @property
    def id(self) -> str:
        return self.cfg.id

    def now(self) -> datetime:
        """The hall's local time (aware, in the hall's timezone)."""
        return self.clock.now().astimezone(self.cfg.tz)

    def parse_time(self, value: Any) -> datetime:
        """An ISO 8601 time from a request; without an offset it is the hall's local time."""
        from hall.errors import BadRequest

        if isinstance(value, datetime):
            dt = value
        else:
            try:
                dt = datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise BadRequest(f"时间格式错误：{value!r}", f"bad time {value!r}; use ISO 8601",
                                 code="bad_time") from None
        return dt if dt.tzinfo else dt.replace(tzinfo=self.cfg.tz)

    def iso(self, ms: int | None) -> str | None:
        if ms is None:
            return None
        return datetime.fromtimestamp(ms / 1000, self.cfg.tz).isoformat(timespec="seconds")

    def cached(self, key: str, ttl_s: float, compute: Any) -> Any:
        """A small time-to-live cache for figures that may be a moment old (estimate inputs)."""
        hit = self._cache.get(key)
        # Expires by the machine's clock and by the hall's: a simulated day (ManualClock) runs
        # hours of hall time in seconds.
        mono, hall_s = time.monotonic(), self.clock.now().timestamp()
        if hit is not None and mono < hit.until and hall_s < hit.hall_until:
            return hit.value
        value = compute()
        self._cache[key] = _Cached(value, mono + ttl_s, hall_s + ttl_s)
        return value

    def forget(self, prefix: str = "") -> None:
        for k in [k for k in self._cache if k.startswith(prefix)]:
            self._cache.pop(k, None)


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)
