"""Hall configuration: the bundled hall, opening hours, and clear errors for broken files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from hall.errors import ConfigError
from hall.hallconfig import (
    HallCfg,
    PostCfg,
    ServiceCfg,
    WindowCfg,
    default_config_path,
    load_hall_config,
    load_halls,
)

SECOND = Path(__file__).parents[1] / "data" / "hf-second.toml"

# A small valid hall; each broken case below changes one thing in it.
GOOD = """\
[hall]
id = "t-hall"
name = "测试大厅"
timezone = "Asia/Shanghai"

[calling]
max_overtakes = 5

[[services]]
code = "SB"
name = "社保"
prefix = "A"

[[services]]
code = "YB"
name = "医保"
prefix = "B"
hours = ["08:30-12:00"]

[[windows]]
number = 1
services = ["*"]
post = { a = "clerk01", b = "clerk02" }

[[windows]]
number = "2"
kind = "domain"
services = ["YB"]
post = { a = "clerk03" }

[[devices]]
id = "caller-01"
kind = "caller"
window = "1"
"""


def write(tmp_path: Path, text: str, name: str = "hall.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def broken(tmp_path: Path, old: str, new: str) -> ConfigError:
    assert old in GOOD
    p = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as ei:
        load_hall_config(p)
    assert str(p) in str(ei.value)
    return ei.value


def local(*args: int) -> datetime:
    return datetime(*args)  # naive wall-clock time in the hall's zone, never "now"


# --------------------------------------------------------------------------- the bundled hall


def test_bundled_hall_loads() -> None:
    cfg = load_hall_config(default_config_path())
    assert cfg.id == "hn-tja"
    assert cfg.timezone == "Asia/Shanghai" and cfg.tz.key == "Asia/Shanghai"
    assert len(cfg.services) >= 6
    assert len(cfg.windows) >= 10
    assert {w.kind for w in cfg.windows} == {"comprehensive", "domain", "tidal", "priority"}
    assert len({s.prefix for s in cfg.services}) == len(cfg.services)
    for code in ("SB", "YB", "GJJ", "BDC", "QY", "HJ"):
        assert cfg.service(code) is not None
    assert all(w.post is not None and w.post.b for w in cfg.windows)
    kinds = {d.kind for d in cfg.devices}
    assert kinds == {"kiosk", "ticket_printer", "locker", "screen", "env_sensor", "caller"}


def test_star_expands_to_all_codes_in_hall_order() -> None:
    cfg = load_hall_config(default_config_path())
    codes = [s.code for s in cfg.services]
    w1 = cfg.window("1")
    assert w1 is not None and w1.services == codes
    assert all("*" not in w.services for w in cfg.windows)
    assert cfg.window(5) is cfg.window("5")
    assert cfg.window("99") is None and cfg.service("XX") is None
    assert cfg.services_by_code["SB"].prefix == "A"


def test_window_number_int_and_default_name(tmp_path: Path) -> None:
    cfg = load_hall_config(write(tmp_path, GOOD))
    w = cfg.windows[0]
    assert w.number == "1" and w.name == "1号窗口" and w.kind == "comprehensive"
    assert w.services == ["SB", "YB"]
    assert cfg.windows[1].post == PostCfg(a="clerk03")
    assert cfg.calling.max_overtakes == 5 and cfg.calling.boost_s["green"] == 1200
    assert cfg.ankang.mode == "standin" and cfg.appointments.late_policy == "normal"


def test_models_are_frozen() -> None:
    cfg = load_hall_config(default_config_path())
    with pytest.raises(ValidationError):
        cfg.name = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- opening hours


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (local(2026, 11, 23, 8, 29), False),  # Monday, before opening
        (local(2026, 11, 23, 8, 30), True),
        (local(2026, 11, 23, 11, 59), True),
        (local(2026, 11, 23, 12, 0), False),  # lunch break, end is exclusive
        (local(2026, 11, 23, 13, 30), True),
        (local(2026, 11, 27, 17, 29), True),  # Friday
        (local(2026, 11, 27, 17, 30), False),
        (local(2026, 11, 28, 9, 0), False),  # Saturday
        (local(2026, 11, 29, 9, 0), False),  # Sunday
    ],
)
def test_open_at_default_hours(when: datetime, expected: bool) -> None:
    sb = ServiceCfg(code="SB", name="社保", prefix="A")
    assert sb.open_at(when) is expected


def test_bundled_huji_open_saturday() -> None:
    cfg = load_hall_config(default_config_path())
    saturday = local(2026, 11, 28, 9, 0)
    assert cfg.services_by_code["HJ"].open_at(saturday)
    assert not cfg.services_by_code["SB"].open_at(saturday)


def test_hours_text() -> None:
    assert (
        ServiceCfg(code="SB", name="社保", prefix="A").hours_text() == "周一至周五 08:30-12:00, 13:30-17:30"
    )
    odd = ServiceCfg(code="X", name="x", prefix="X", hours=["14:00-16:00", "09:00-11:00"], days=[1, 3, 6, 7])
    assert odd.hours_text() == "周一、周三、周六、周日 09:00-11:00, 14:00-16:00"
    every = ServiceCfg(code="X", name="x", prefix="X", hours=["00:00-23:59"], days=list(range(1, 8)))
    assert every.hours_text() == "每天 00:00-23:59"


# --------------------------------------------------------------------------- broken files


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    err = broken(tmp_path, 'name = "医保"', 'name = "医保')
    assert err.where == "line 16"
    assert "line 16" in str(err) and "TOML" in str(err)


def test_duplicate_prefix(tmp_path: Path) -> None:
    err = broken(tmp_path, 'prefix = "B"', 'prefix = "A"')
    assert err.where == "services[1].prefix (line 17)"
    assert "前缀重复" in err.message and 'duplicate prefix "A"' in err.message
    assert "services[0]" in err.message


def test_unknown_service_in_window(tmp_path: Path) -> None:
    err = broken(tmp_path, 'services = ["YB"]', 'services = ["YB", "GJJ"]')
    assert err.where == "windows[1].services[1] (line 28)"
    assert '"GJJ"' in err.message and "未知业务" in err.message


@pytest.mark.parametrize(
    ("hours", "fragment"),
    [
        ('["8:30-12:00"]', "HH:MM-HH:MM"),
        ('["12:00-08:30"]', "start must be before end"),
        ('["08:30-12:00", "11:00-13:00"]', "overlaps"),
        ('["08:30-25:00"]', "HH:MM-HH:MM"),
    ],
)
def test_bad_hours(tmp_path: Path, hours: str, fragment: str) -> None:
    err = broken(tmp_path, 'hours = ["08:30-12:00"]', f"hours = {hours}")
    assert err.where.startswith("services[1].hours[") and err.where.endswith("(line 18)")
    assert fragment in err.message


def test_bad_day(tmp_path: Path) -> None:
    err = broken(tmp_path, 'hours = ["08:30-12:00"]', "days = [1, 8]")
    assert err.where == "services[1].days[1] (line 18)" and "1..7" in err.message


def test_unknown_field(tmp_path: Path) -> None:
    err = broken(tmp_path, 'prefix = "B"', 'prefix = "B"\ncolour = "red"')
    assert err.where == "services[1].colour (line 18)"
    assert "未知字段" in err.message and 'unknown field "colour"' in err.message


def test_unknown_field_in_hall_table(tmp_path: Path) -> None:
    err = broken(tmp_path, 'timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghai"\nmanager = "x"')
    assert err.where == "hall.manager (line 5)"


def test_bad_timezone(tmp_path: Path) -> None:
    err = broken(tmp_path, 'timezone = "Asia/Shanghai"', 'timezone = "Asia/Beijing"')
    assert err.where == "hall.timezone (line 4)"
    assert "未知时区" in err.message and "Asia/Beijing" in err.message


def test_post_a_equals_b(tmp_path: Path) -> None:
    err = broken(tmp_path, 'b = "clerk02"', 'b = "clerk01"')
    assert err.where == "windows[0].post.b (line 23)"
    assert "A and B must be different" in err.message and "clerk01" in err.message


def test_clerk_is_a_of_two_posts(tmp_path: Path) -> None:
    err = broken(tmp_path, 'a = "clerk03"', 'a = "clerk01"')
    assert err.where == "windows[1].post.a (line 29)" and "windows[0]" in err.message


def test_service_without_window(tmp_path: Path) -> None:
    err = broken(tmp_path, 'services = ["*"]', 'services = ["YB"]')
    assert err.where == "services[0].code (line 10)" and 'no window serves service "SB"' in err.message


def test_device_names_unknown_window(tmp_path: Path) -> None:
    err = broken(tmp_path, 'window = "1"', 'window = "7"')
    assert err.where == "devices[0].window (line 34)" and 'unknown window "7"' in err.message


def test_bad_prefix_pattern(tmp_path: Path) -> None:
    err = broken(tmp_path, 'prefix = "B"', 'prefix = "b1"')
    assert err.where == "services[1].prefix (line 17)" and "格式不符" in err.message and "'b1'" in err.message


def test_hall_key_at_top_level(tmp_path: Path) -> None:
    err = broken(tmp_path, "[hall]\n", "green_channel_age = 65\n[hall]\n")
    assert err.where == "green_channel_age (line 1)" and "[hall]" in err.message


def test_http_ankang_needs_url(tmp_path: Path) -> None:
    err = broken(tmp_path, "[calling]\n", '[ankang]\nmode = "http"\n\n[calling]\n')
    assert err.where == "ankang.url (line 6)" and "url is required" in err.message


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as ei:
        load_hall_config(p)
    assert str(p) in str(ei.value) and "file not found" in str(ei.value)


def test_load_halls_rejects_duplicate_ids(tmp_path: Path) -> None:
    copy = write(tmp_path, default_config_path().read_text(encoding="utf-8"), "copy.toml")
    with pytest.raises(ConfigError) as ei:
        load_halls([default_config_path(), copy])
    assert ei.value.path == str(copy)
    assert ei.value.where.startswith("hall.id (line ")
    assert 'duplicate hall id "hn-tja"' in ei.value.message


def test_load_halls_two_halls() -> None:
    halls = load_halls([default_config_path(), SECOND])
    assert [h.id for h in halls] == ["hn-tja", "hf-bh"]
    bh = halls[1]
    assert len(bh.services) == 2 and len(bh.windows) == 2
    assert bh.window("1") == WindowCfg(
        number="1", name="1号窗口", services=["SB", "HJ"], post=PostCfg(a="bh-clerk01", b="bh-clerk02")
    )


def test_cross_checks_apply_when_built_in_code() -> None:
    sb = ServiceCfg(code="SB", name="社保", prefix="A")
    with pytest.raises(ValidationError, match=r"\[0\]\.services\[0\]: .*unknown service \"YB\""):
        HallCfg(id="x-hall", name="x", services=[sb], windows=[WindowCfg(number="1", services=["YB"])])


def test_missing_key_and_further_errors_are_named(tmp_path: Path) -> None:
    err = broken(tmp_path, 'id = "t-hall"\n', "")
    assert err.where == "hall.id (line 1)" and "缺少必填项" in err.message
    text = GOOD.replace('id = "t-hall"\n', "").replace('prefix = "B"', 'prefix = "b"')
    with pytest.raises(ConfigError) as ei:
        load_hall_config(write(tmp_path, text, "two.toml"))
    assert "1 more: services[1].prefix (line 16)" in ei.value.message
