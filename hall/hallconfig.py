"""Hall configuration: one TOML file describes one hall.

The file has a ``[hall]`` table (id, name, timezone, green_channel_age), the policy tables
``[calling]``, ``[appointments]``, ``[ankang]`` and the arrays ``[[services]]``, ``[[windows]]``,
``[[devices]]``. :func:`load_hall_config` flattens ``[hall]`` into :class:`HallCfg` and turns every
problem into a :class:`~hall.errors.ConfigError` naming the file, the key path (plus its line, found
by a best-effort scan of the text) and what is wrong, in Chinese then English.

After loading, a window's ``services = ["*"]`` is expanded to the hall's service codes, and a
window's ``name`` is always filled in.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hall.errors import ConfigError

__all__ = [
    "AnkangCfg",
    "AlertCfg",
    "AppointmentCfg",
    "CallingCfg",
    "DeviceCfg",
    "HallCfg",
    "PostCfg",
    "ServiceCfg",
    "StaffingCfg",
    "TidalCfg",
    "WindowCfg",
    "default_config_path",
    "load_hall_config",
    "load_halls",
]

Loc = tuple[str | int, ...]


class _At(ValueError):
    """A validation error that knows where below the validated object it happened.

    Pydantic only knows the location of the value a validator was attached to; cross checks on the
    whole hall need to point deeper (``services[2].prefix``). The loader reads ``loc`` back out of
    the ValidationError's context; ``str()`` keeps the path for anyone building models in code.
    """

    def __init__(self, loc: Loc, text: str) -> None:
        self.loc = loc
        self.text = text
        super().__init__(f"{_key_path(loc)}: {text}" if loc else text)


def _key_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --------------------------------------------------------------------------- models

_CFG = ConfigDict(extra="forbid", frozen=True)
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_WEEKDAYS = "一二三四五六日"


def _span_minutes(span: str) -> tuple[int, int]:
    """``"08:30-12:00"`` -> ``(510, 720)``, minutes after local midnight; end exclusive."""
    m = _SPAN.match(span.replace(" ", ""))
    if not m:
        raise ValueError(f'时段格式应为 HH:MM-HH:MM / hours must look like "08:30-12:00", got "{span}"')
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    return h1 * 60 + m1, h2 * 60 + m2


def _checked_spans(spans: list[str]) -> list[tuple[int, int, int]]:
    """``(start, end, index)`` of each span, in minutes; a bad or empty span is an error at its index."""
    out = []
    for i, span in enumerate(spans):
        try:
            start, end = _span_minutes(span)
        except ValueError as e:
            raise _At((i,), str(e)) from None
        if start >= end:
            raise _At((i,), f'开始时间须早于结束时间 / start must be before end in "{span}"')
        out.append((start, end, i))
    return out


def _days_text(days: list[int]) -> str:
    ds = sorted(days)
    if ds == list(range(1, 8)):
        return "每天"
    runs: list[list[int]] = []
    for d in ds:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"周{_WEEKDAYS[run[0] - 1]}至周{_WEEKDAYS[run[-1] - 1]}")
        else:
            parts.extend(f"周{_WEEKDAYS[d - 1]}" for d in run)
    return "、".join(parts)


class ServiceCfg(BaseModel):
    """One service (业务) the hall offers, with its ticket prefix and opening hours."""

    model_config = _CFG

    code: str = Field(pattern=r"^[A-Z]{1,4}$")
    name: str = Field(min_length=1)
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")
    hours: list[str] = Field(default_factory=lambda: ["08:30-12:00", "13:30-17:30"])
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    target_wait_min: int = Field(default=20, gt=0)
    service_min: float = Field(default=8.0, gt=0)
    # 周末办: hours on Saturdays and Sundays when they differ from ``hours`` (e.g. mornings only).
    weekend_hours: list[str] | None = None

    @field_validator("hours", "weekend_hours")
    @classmethod
    def _check_hours(cls, hours: list[str] | None) -> list[str] | None:
        if hours is None:
            return None
        if not hours:
            raise ValueError("至少需要一个办理时段 / at least one span of hours is needed")
        spans = sorted(_checked_spans(hours))
        for (_, end1, i1), (start2, _, i2) in zip(spans, spans[1:], strict=False):
            if start2 < end1:
                raise _At((i2,), f'时段重叠 / "{hours[i2]}" overlaps "{hours[i1]}"')
        return hours

    @field_validator("days")
    @classmethod
    def _check_days(cls, days: list[int]) -> list[int]:
        if not days:
            raise ValueError("至少需要一个办理日 / at least one weekday is needed")
        for i, d in enumerate(days):
            if not 1 <= d <= 7:
                raise _At((i,), f"星期须为 1..7（1=周一）/ weekday must be 1..7 (ISO, 1 = Monday), got {d}")
            if d in days[:i]:
                raise _At((i,), f"星期重复 / weekday {d} listed twice")
        return days

    def hours_on(self, weekday: int) -> list[str]:
        """The spans of hours on an ISO weekday (1 = Monday); empty when closed that day."""
        if weekday not in self.days:
            return []
        if weekday >= 6 and self.weekend_hours is not None:
            return self.weekend_hours
        return self.hours

    def open_at(self, local_dt: datetime) -> bool:
        """Whether the service takes visitors at ``local_dt``, a wall-clock time in the hall's zone."""
        minute = local_dt.hour * 60 + local_dt.minute
        return any(start <= minute < end for start, end in map(_span_minutes, self.hours_on(local_dt.isoweekday())))

    def hours_text(self) -> str:
        """Opening hours for people, e.g. ``周一至周五 08:30-12:00, 13:30-17:30``."""

        def spans(hours: list[str]) -> str:
            return ", ".join(s.replace(" ", "") for s in sorted(hours, key=_span_minutes))

        weekend = [d for d in self.days if d >= 6]
        if self.weekend_hours is None or not weekend:
            return f"{_days_text(self.days)} {spans(self.hours)}"
        week = [d for d in self.days if d < 6]
        parts = [f"{_days_text(week)} {spans(self.hours)}"] if week else []
        parts.append(f"{_days_text(weekend)} {spans(self.weekend_hours)}")
        return "；".join(parts)


class PostCfg(BaseModel):
    """An AB post (AB岗): A is the window's primary clerk, B the backup who covers when A is away."""

    model_config = _CFG

    a: str = Field(min_length=1)
    b: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _a_is_not_b(self) -> PostCfg:
        if self.a == self.b:
            raise _At(
                ("b",), f'A 岗与 B 岗不能是同一人 / A and B must be different clerks, both are "{self.a}"'
            )
        return self


class WindowCfg(BaseModel):
    """A service window. ``services = ["*"]`` means every service of the hall."""

    model_config = _CFG

    number: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z-]{0,15}$")
    name: str | None = None
    kind: Literal["comprehensive", "domain", "tidal", "priority"] = "comprehensive"
    services: list[str] = Field(default_factory=lambda: ["*"])
    post: PostCfg | None = None

    @model_validator(mode="before")
    @classmethod
    def _number_and_name(cls, data: Any) -> Any:
        # TOML lets people write `number = 3`; numbers are strings everywhere else (URLs, topics).
        if isinstance(data, dict):
            data = dict(data)
            num = data.get("number")
            if isinstance(num, int) and not isinstance(num, bool):
                data["number"] = num = str(num)
            if data.get("name") is None and isinstance(num, str):
                data["name"] = f"{num}号窗口"
        return data

    @field_validator("services")
    @classmethod
    def _check_services(cls, services: list[str]) -> list[str]:
        if not services:
            raise ValueError('窗口至少办理一项业务 / a window must serve at least one service (or "*")')
        for i, code in enumerate(services):
            if code in services[:i]:
                raise _At((i,), f'业务重复 / service "{code}" listed twice')
        return services


class DeviceCfg(BaseModel):
    """A device on the hall floor; ``id`` is what it uses in its MQTT topics."""

    model_config = _CFG

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    kind: Literal["kiosk", "ticket_printer", "locker", "screen", "env_sensor", "caller"]
    location: str = ""
    window: str | None = None
    slots: int = Field(default=0, ge=0, le=200)  # lockers: how many slots

    @field_validator("window", mode="before")
    @classmethod
    def _window_as_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


_BOOST_KEYS = ("green", "appointment", "transferred", "normal")


class CallingCfg(BaseModel):
    """Calling-order policy: head starts in seconds per class, and anti-starvation limits."""

    model_config = _CFG

    boost_s: dict[str, int] = Field(
        default_factory=lambda: {"green": 1200, "appointment": 900, "transferred": 600, "normal": 0}
    )
    max_priority_streak: int = Field(default=2, ge=1)
    max_overtakes: int = Field(default=8, ge=1)
    no_show_grace_min: int = Field(default=30, ge=0)

    @field_validator("boost_s")
    @classmethod
    def _check_boost(cls, boost: dict[str, int]) -> dict[str, int]:
        if set(boost) != set(_BOOST_KEYS):
            raise ValueError(
                f"须恰好包含 {', '.join(_BOOST_KEYS)} / keys must be exactly {', '.join(_BOOST_KEYS)}, "
                f"got {', '.join(boost) or 'none'}"
            )
        for key, v in boost.items():
            if v < 0:
                raise _At((key,), f"不能为负数 / must not be negative, got {v}")
        return boost


class AppointmentCfg(BaseModel):
    """How early or late an appointment may check in, and what happens when it is late."""

    model_config = _CFG

    early_min: int = Field(default=30, ge=0)
    late_min: int = Field(default=15, ge=0)
    late_policy: Literal["normal", "refuse"] = "normal"


class AnkangCfg(BaseModel):
    """The 安康码 verifier: a local stand-in, the provincial HTTP API, or off."""

    model_config = _CFG

    mode: Literal["standin", "http", "off"] = "standin"
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    api_key_env: str = Field(default="HALL_ANKANG_API_KEY", min_length=1)
    timeout_s: float = Field(default=3.0, gt=0)

    @model_validator(mode="after")
    def _url_for_http(self) -> AnkangCfg:
        if self.mode == "http" and not self.url:
            raise _At(("url",), 'mode = "http" 时必须填写 url / url is required when mode = "http"')
        return self


class StaffingCfg(BaseModel):
    """AB posts (AB岗) and the hall's calendar."""

    model_config = _CFG

    vacancy_limit_min: int = Field(default=30, ge=1)  # unattended longer than this is 空岗
    lunch: list[str] = Field(default_factory=lambda: ["12:00-13:30"])  # lunch rotation (午间不断档)
    month_end_days: int = Field(default=3, ge=0, le=10)  # the last N days of a month count as month-end

    @field_validator("lunch")
    @classmethod
    def _check_lunch(cls, spans: list[str]) -> list[str]:
        _checked_spans(spans)
        return spans

    def lunch_at(self, local_dt: datetime) -> bool:
        minute = local_dt.hour * 60 + local_dt.minute
        return any(start <= minute < end for start, end in map(_span_minutes, self.lunch))


class TidalCfg(BaseModel):
    """When tidal (standby) windows open and close. Thresholds apply per service."""

    model_config = _CFG

    open_queue: int = Field(default=10, ge=1)  # open when more than this many wait for a service
    close_queue: int = Field(default=3, ge=0)  # close when every service it takes has at most this many
    open_wait_ratio: float = Field(default=1.0, gt=0)  # or when waits reach target × this
    close_wait_ratio: float = Field(default=0.5, gt=0)  # close only when waits are below target × this
    min_open_min: int = Field(default=30, ge=0)  # a window stays open at least this long
    min_closed_min: int = Field(default=10, ge=0)  # and stays closed at least this long
    step_min: int = Field(default=5, ge=0)  # at most one more window per service in this time
    month_end_factor: float = Field(default=0.7, gt=0, le=1)  # thresholds × this at month-end
    lunch_factor: float = Field(default=0.8, gt=0, le=1)  # and at lunch, when regular windows rotate
    standby: list[str] = Field(default_factory=list)  # clerks on standby besides the tidal posts' A and B
    check_every_s: int = Field(default=60, ge=5)

    @model_validator(mode="after")
    def _hysteresis(self) -> TidalCfg:
        if self.close_queue >= self.open_queue:
            raise _At(("close_queue",), f"关闭阈值须小于开启阈值 / close_queue must be below open_queue "
                                        f"({self.open_queue}), got {self.close_queue}")
        if self.close_wait_ratio >= self.open_wait_ratio:
            raise _At(("close_wait_ratio",), "关闭阈值须小于开启阈值 / close_wait_ratio must be below "
                                             f"open_wait_ratio ({self.open_wait_ratio})")
        return self


class AlertCfg(BaseModel):
    """等待预警: raised when a service's waits pass its target, cleared below target × clear_ratio."""

    model_config = _CFG

    clear_ratio: float = Field(default=0.8, gt=0, lt=1)


DEVICE_KINDS = ("kiosk", "ticket_printer", "locker", "screen", "env_sensor", "caller")
ALARM_RULES = ("offline", "paper", "jam", "fault", "disk_full", "door_open_long", "door_unexpected",
               "door_jam", "temperature", "humidity", "screen_dark")
SEVERITIES = ("critical", "major", "minor", "warning")


def _default_rules() -> dict[str, list[str]]:
    return {
        "kiosk": ["offline", "paper", "jam", "fault", "disk_full"],
        "ticket_printer": ["offline", "paper", "jam", "fault"],
        "locker": ["offline", "door_open_long", "door_unexpected", "door_jam", "fault"],
        "screen": ["offline", "screen_dark", "fault"],
        "env_sensor": ["offline", "temperature", "humidity", "fault"],
        "caller": ["offline", "fault"],
    }


class RangeCfg(BaseModel):
    """A measured value's allowed range, with an on-delay, an off-delay and a deadband."""

    model_config = _CFG

    low: float
    high: float
    deadband: float = Field(default=0.0, ge=0)  # clears only this far back inside the range
    on_delay_s: int = Field(default=60, ge=0)  # out of range this long before the alarm
    off_delay_s: int = Field(default=120, ge=0)  # back in range (past the deadband) this long before it clears

    @model_validator(mode="after")
    def _ordered(self) -> RangeCfg:
        if self.low >= self.high:
            raise ValueError("low 应小于 high / low must be below high")
        return self


class LockerCfg(BaseModel):
    """亮码取件: how long doors may take, and how pickup codes are made and guarded."""

    model_config = _CFG

    door_confirm_s: int = Field(default=10, ge=1)  # a door must report open this soon after open_door
    deposit_close_s: int = Field(default=300, ge=10)  # a deposit's door must close this soon
    door_open_alarm_s: int = Field(default=120, ge=5)  # a door open longer than this raises an alarm
    code_digits: int = Field(default=8, ge=6, le=12)
    code_ttl_h: int = Field(default=168, ge=1)  # a pickup code is valid this long
    max_wrong_codes: int = Field(default=10, ge=1)  # this many wrong codes from one place lock it out
    wrong_window_min: int = Field(default=15, ge=1)  # counted over this long
    lockout_min: int = Field(default=15, ge=1)


class IotCfg(BaseModel):
    """Devices over MQTT: connectivity, alarm rules per device kind, alarm handling, commands."""

    model_config = _CFG

    heartbeat_s: float = Field(default=30, gt=0)  # devices send telemetry at least this often
    offline_after_missed: int = Field(default=3, ge=1)  # offline after this many heartbeats missed
    online_after_good: int = Field(default=2, ge=1)  # an offline device is online after this many good messages
    reboot_grace_s: float = Field(default=10, ge=0)  # a last will waits this long for the device's next boot
    skew_limit_s: float = Field(default=30, gt=0)  # device clock further off than this is flagged
    max_payload_bytes: int = Field(default=16384, ge=256)
    report_every_s: int = Field(default=60, ge=1)  # rejected messages: one event and alarm per device this often
    rules: dict[str, list[str]] = Field(default_factory=_default_rules)  # alarm rules per device kind
    severity: dict[str, str] = Field(default_factory=dict)  # alarm type -> severity, over the defaults
    paper_low_pct: float = Field(default=15, ge=0, le=100)
    disk_full_pct: float = Field(default=95, ge=0, le=100)
    temperature: RangeCfg = Field(default_factory=lambda: RangeCfg(low=16, high=28, deadband=0.5))
    humidity: RangeCfg = Field(default_factory=lambda: RangeCfg(low=20, high=70, deadband=2))
    screen_dark_s: int = Field(default=60, ge=1)  # a registered screen with no WebSocket this long is dark
    flood_count: int = Field(default=10, ge=1)  # more alarms than this …
    flood_window_min: int = Field(default=10, ge=1)  # … in this many minutes: flood mode (grouped)
    escalate_after_min: dict[str, int] = Field(
        default_factory=lambda: {"critical": 5, "major": 15, "minor": 60})  # unacknowledged this long
    command_timeout_s: int = Field(default=30, ge=1)  # no answer this long after sending: timed out
    command_ttl_s: int = Field(default=60, ge=1)  # a command not sent by then expires
    locker: LockerCfg = Field(default_factory=LockerCfg)

    @field_validator("rules")
    @classmethod
    def _check_rules(cls, rules: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, names in rules.items():
            if kind not in DEVICE_KINDS:
                raise _At((kind,), f'未知设备类型 / unknown device kind "{kind}" (known: {", ".join(DEVICE_KINDS)})')
            for i, name in enumerate(names):
                if name not in ALARM_RULES:
                    raise _At((kind, i), f'未知报警规则 / unknown alarm rule "{name}" '
                                         f'(known: {", ".join(ALARM_RULES)})')
        return {**_default_rules(), **rules}

    @field_validator("severity", "escalate_after_min")
    @classmethod
    def _check_severity(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        for k, v in value.items():
            sev = v if info.field_name == "severity" else k
            if sev not in SEVERITIES:
                raise _At((k,), f'未知级别 / unknown severity "{sev}" (known: {", ".join(SEVERITIES)})')
        return value


class FollowupCfg(BaseModel):
    """差评回访: deadlines for a 不满意 / 非常不满意 rating, in working days (the hall's weekdays,
    less the holidays listed)."""

    model_config = _CFG

    ratings: list[int] = Field(default_factory=lambda: [1, 2])  # GB/T 39734: 1 非常不满意, 2 不满意
    callback_working_days: int = Field(default=1, ge=0, le=30)  # call the visitor back within
    fix_working_days: int = Field(default=15, ge=0, le=90)  # put it right within
    holidays: list[str] = Field(default_factory=list)  # YYYY-MM-DD days that are not working days

    @field_validator("holidays")
    @classmethod
    def _check_holidays(cls, days: list[str]) -> list[str]:
        # checked here: a bad date found only when a poor rating comes would fail the clerk's finish
        for i, d in enumerate(days):
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", d):
                raise _At((i,), f'日期格式须为 YYYY-MM-DD / a date must be YYYY-MM-DD, got "{d}"')
            try:
                datetime.strptime(d, "%Y-%m-%d")
            except ValueError:
                raise _At((i,), f'日期不存在 / no such date "{d}"') from None
        return days


class FeedCfg(BaseModel):
    """The feed of queue, call and rating events to the provincial platform (off without ``url``)."""

    model_config = _CFG

    url: str | None = None  # where events are POSTed
    api_key_env: str = "HALL_FEED_API_KEY"  # environment variable holding the platform's key
    types: list[str] = Field(default_factory=lambda: ["ticket.issued", "ticket.called", "ticket.finished",
                                                        "ticket.rated"])
    batch: int = Field(default=100, ge=1, le=1000)  # events per request
    timeout_s: float = Field(default=10, gt=0)
    retry_min_s: float = Field(default=1, gt=0)  # backoff after a failure, doubling …
    retry_max_s: float = Field(default=300, gt=0)  # … up to this


class HallCfg(BaseModel):
    """One hall, as loaded from its TOML file (``[hall]`` flattened into the top level)."""

    model_config = _CFG

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,31}$")
    name: str = Field(min_length=1)
    timezone: str = "Asia/Shanghai"
    green_channel_age: int = Field(default=70, ge=0, le=150)
    calling: CallingCfg = Field(default_factory=CallingCfg)
    appointments: AppointmentCfg = Field(default_factory=AppointmentCfg)
    ankang: AnkangCfg = Field(default_factory=AnkangCfg)
    staffing: StaffingCfg = Field(default_factory=StaffingCfg)
    tidal: TidalCfg = Field(default_factory=TidalCfg)
    alerts: AlertCfg = Field(default_factory=AlertCfg)
    iot: IotCfg = Field(default_factory=IotCfg)
    followup: FollowupCfg = Field(default_factory=FollowupCfg)
    feed: FeedCfg = Field(default_factory=FeedCfg)
    services: list[ServiceCfg] = Field(min_length=1)
    windows: list[WindowCfg] = Field(min_length=1)
    devices: list[DeviceCfg] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'未知时区 / unknown time zone "{tz}" (use an IANA name like "Asia/Shanghai")'
            ) from None
        return tz

    @field_validator("windows")
    @classmethod
    def _expand_windows(cls, windows: list[WindowCfg], info: ValidationInfo) -> list[WindowCfg]:
        """Check each window's service codes and expand ``"*"`` to all of them, in hall order."""
        services: list[ServiceCfg] | None = info.data.get("services")
        if services is None:  # services failed validation; that error is reported instead
            return windows
        codes = [s.code for s in services]
        out: list[WindowCfg] = []
        for i, w in enumerate(windows):
            for j, code in enumerate(w.services):
                if code != "*" and code not in codes:
                    raise _At(
                        (i, "services", j),
                        f'未知业务 / unknown service "{code}" (known: {", ".join(codes)})',
                    )
            out.append(w.model_copy(update={"services": list(codes)}) if "*" in w.services else w)
        return out

    @model_validator(mode="after")
    def _cross_checks(self) -> HallCfg:
        _unique(self.services, "code", ("services",), "业务代码重复", "duplicate service code")
        _unique(self.services, "prefix", ("services",), "前缀重复", "duplicate prefix")
        _unique(self.windows, "number", ("windows",), "窗口号重复", "duplicate window number")
        _unique(self.devices, "id", ("devices",), "设备 id 重复", "duplicate device id")
        served = {code for w in self.windows for code in w.services}
        for i, s in enumerate(self.services):
            if s.code not in served:
                raise _At(
                    ("services", i, "code"), f'没有窗口办理该业务 / no window serves service "{s.code}"'
                )
        a_of: dict[str, int] = {}
        for i, w in enumerate(self.windows):
            if w.post is None:
                continue
            if w.post.a in a_of:
                raise _At(
                    ("windows", i, "post", "a"),
                    f'同一职员只能担任一个窗口的 A 岗 / clerk "{w.post.a}" is already A of '
                    f"windows[{a_of[w.post.a]}]",
                )
            a_of[w.post.a] = i
        numbers = [w.number for w in self.windows]
        for i, d in enumerate(self.devices):
            if d.kind == "locker" and d.slots < 1:
                raise _At(("devices", i, "slots"), "智能柜须配置格口数 / a locker needs slots = N (1-200)")
            if d.window is not None and d.window not in numbers:
                raise _At(
                    ("devices", i, "window"),
                    f'没有这个窗口 / unknown window "{d.window}" (known: {", ".join(numbers)})',
                )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def services_by_code(self) -> dict[str, ServiceCfg]:
        return {s.code: s for s in self.services}

    def service(self, code: str) -> ServiceCfg | None:
        return next((s for s in self.services if s.code == code), None)

    def window(self, number: str | int) -> WindowCfg | None:
        return next((w for w in self.windows if w.number == str(number)), None)


def _unique(items: list[Any], attr: str, base: Loc, zh: str, en: str) -> None:
    seen: dict[Any, int] = {}
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if value in seen:
            raise _At((*base, i, attr), f'{zh} / {en} "{value}" (also used by {base[0]}[{seen[value]}])')
        seen[value] = i


# --------------------------------------------------------------------------- loading

_HALL_KEYS = {"id", "name", "timezone", "green_channel_age"}
_TABLES = {"hall", "calling", "appointments", "ankang", "staffing", "tidal", "alerts", "iot", "followup", "feed",
           "services", "windows", "devices"}

_ZH = {
    "extra_forbidden": "未知字段",
    "missing": "缺少必填项",
    "string_pattern_mismatch": "格式不符",
    "literal_error": "取值不在允许范围内",
    "string_type": "应为字符串",
    "string_too_short": "不能为空",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "list_type": "应为数组",
    "dict_type": "应为表",
    "model_type": "应为表",
    "too_short": "至少需要一项",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
}


def default_config_path() -> Path:
    """The bundled example hall, ``hall/halls/hn-tja.toml``."""
    return Path(__file__).parent / "halls" / "hn-tja.toml"


def load_hall_config(path: str | Path) -> HallCfg:
    """Read and validate one hall file; every problem is a :class:`ConfigError`."""
    return _load(Path(path))[0]


def load_halls(paths: list[str | Path]) -> list[HallCfg]:
    """Load several hall files; hall ids must be unique across them."""
    halls: list[HallCfg] = []
    first: dict[str, Path] = {}
    for p in map(Path, paths):
        cfg, text = _load(p)
        if cfg.id in first:
            raise ConfigError(
                str(p),
                _where(("hall", "id"), text),
                f'大厅 id 重复 / duplicate hall id "{cfg.id}" (also used by {first[cfg.id]})',
            )
        first[cfg.id] = p
        halls.append(cfg)
    return halls


def _load(path: Path) -> tuple[HallCfg, str]:
    where = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(where, "", "文件不存在 / file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(where, "", f"文件不是 UTF-8 编码 / file is not UTF-8 ({e.reason})") from None
    except OSError as e:
        raise ConfigError(where, "", f"无法读取文件 / cannot read file: {e.strerror or e}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            line, col = m.groups()
            msg = msg[: m.start()].strip()
            raise ConfigError(
                where, f"line {line}", f"TOML 语法错误 / TOML syntax error: {msg} (column {col})"
            ) from None
        raise ConfigError(where, "end of file", f"TOML 语法错误 / TOML syntax error: {msg}") from None

    data = _flatten(raw, where, text)
    try:
        return HallCfg.model_validate(data), text
    except ValidationError as e:
        raise _config_error(e, where, text, hall_keys=set(raw.get("hall", {}))) from None


def _flatten(raw: dict[str, Any], where: str, text: str) -> dict[str, Any]:
    """Merge the ``[hall]`` table into the top level, refusing keys in the wrong place."""
    hall = raw.get("hall")
    if not isinstance(hall, dict):
        msg = (
            "缺少 [hall] 表 / missing [hall] table"
            if hall is None
            else "[hall] 应为表 / hall must be a table"
        )
        raise ConfigError(where, _where(("hall",), text), msg)
    for key in raw:
        if key in _HALL_KEYS:
            raise ConfigError(
                where,
                _where((key,), text),
                f'"{key}" 应写在 [hall] 表中 / "{key}" belongs in the [hall] table',
            )
    for key in hall:
        if key in _TABLES:
            raise ConfigError(
                where,
                _where(("hall", key), text),
                f'"{key}" 不应写在 [hall] 表中 / "{key}" belongs at the top level, not in [hall]',
            )
    rest = {k: v for k, v in raw.items() if k != "hall"}
    return {**hall, **rest}


def _config_error(e: ValidationError, where: str, text: str, hall_keys: set[str]) -> ConfigError:
    """The first problem in full; the others, if any, by where they are."""
    found = [_describe(err, text, hall_keys | _HALL_KEYS) for err in e.errors()]
    (first_where, message), rest = found[0], [w for w, _ in found[1:]]
    if rest:
        message += f" （另有 {len(rest)} 处错误 / {len(rest)} more: {'; '.join(rest)}）"
    return ConfigError(where, first_where, message)


def _describe(err: Any, text: str, hall_keys: set[str]) -> tuple[str, str]:
    loc: Loc = tuple(err["loc"])
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, _At):
        loc, message = (*loc, *cause.loc), cause.text
    elif isinstance(cause, ValueError):
        message = str(cause)
    else:
        en = f'unknown field "{loc[-1]}"' if err["type"] == "extra_forbidden" else err["msg"]
        inp = err.get("input")
        if err["type"] not in ("extra_forbidden", "missing") and isinstance(inp, str | int | float | bool):
            en += f", got {inp!r}"
        message = f"{_ZH.get(err['type'], '取值无效')} / {en}"
    if loc and loc[0] in hall_keys:  # pydantic saw it at the top level; the file has it under [hall]
        loc = ("hall", *loc)
    return _where(loc, text), message


def _where(loc: Loc, text: str) -> str:
    path = _key_path(loc)
    line = _find_line(loc, text)
    return f"{path} (line {line})" if line and path else path or (f"line {line}" if line else "")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*[.=]")


def _find_line(loc: Loc, text: str) -> int | None:
    """Best-effort: the line of the deepest key or table header in ``loc`` that the text shows.

    Knows ``[table]``, ``[[array]]`` (counting elements) and ``key = ...`` lines; a key inside an
    inline table or a multi-line array resolves to the line of its enclosing key.
    """
    keys: dict[Loc, int] = {}
    table: Loc = ()
    counts: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if h := _HEADER.match(line):
            name = h.group(2).replace('"', "").replace(" ", "")
            parts: Loc = tuple(name.split("."))
            if h.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                parts = (*parts, counts[name])
            table = parts
            keys.setdefault(table, n)
        elif k := _KEY.match(line):
            keys.setdefault((*table, k.group(1).strip('"')), n)
    for depth in range(len(loc), 0, -1):
        if (line := keys.get(tuple(loc[:depth]))) is not None:
            return line
    return None
