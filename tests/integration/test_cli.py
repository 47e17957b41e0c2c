"""The ``hall`` command as an operator meets it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from hall.db.models import staff_t


def hall_cmd(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "HALL_DATA_DIR": str(tmp_path), "HALL_SECRET": "s", **(env or {})}
    full.pop("HALL_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "hall.cli", *args], capture_output=True, text=True, env=full,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_invalid_config_stops_serve_with_file_key_and_reason(tmp_path):
    bad = tmp_path / "bad.toml"
    good = (Path(__file__).parents[1] / "data" / "hf-second.toml").read_text(encoding="utf-8")
    bad.write_text(good.replace('prefix = "B"', 'prefix = "A"', 1), encoding="utf-8")
    assert bad.read_text(encoding="utf-8") != good, "the fixture changed: adapt the broken key"
    r = hall_cmd(tmp_path, "serve", "--config", str(bad), "--port", "0")
    assert r.returncode == 2
    assert "bad.toml" in r.stderr and "prefix" in r.stderr and "前缀" in r.stderr


def test_user_add_creates_an_account_with_a_hashed_password(tmp_path):
    r = hall_cmd(tmp_path, "user", "add", "wang", "--role", "duty_officer", "--password", "night-shift-7",
                 "--hall", "hn-tja")
    assert r.returncode == 0, r.stderr
    eng = create_engine(f"sqlite:///{tmp_path / 'hall.db'}")
    with eng.connect() as c:
        row = c.execute(select(staff_t).where(staff_t.c.username == "wang")).one()
    eng.dispose()
    assert row.role == "duty_officer" and row.password_hash.startswith("$argon2")
    assert "night-shift-7" not in row.password_hash


def test_user_add_without_password_and_terminal_says_how(tmp_path):
    r = hall_cmd(tmp_path, "user", "add", "li", "--role", "clerk")
    assert r.returncode == 2 and "HALL_PASSWORD" in r.stderr


@pytest.mark.parametrize("role", ["janitor"])
def test_user_add_refuses_unknown_role(tmp_path, role):
    r = hall_cmd(tmp_path, "user", "add", "li", "--role", role, "--password", "long-enough-1")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_serve_on_a_taken_port_says_so(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = hall_cmd(tmp_path, "serve", "--port", str(port))
    assert r.returncode == 2 and str(port) in r.stderr and "--port" in r.stderr


def test_report_shift_writes_the_handover_sheet_with_the_nights_alarms(tmp_path):
    import io

    import pypdf

    from hall import alarms
    from hall.clock import ManualClock
    from tests.conftest import MONDAY_0930, make_hall

    h = make_hall(tmp_path, ManualClock(MONDAY_0930))
    rt = h.server.hall("hn-tja")
    h.server.db.write_sync(alarms.raise_alarm, rt, rt.now(), "device", "locker-01", "door_jam", "critical",
                           {"slot": 3, "text": "locker-01 3号格口柜门未能打开"})
    h.close()
    out = tmp_path / "handover.pdf"
    r = hall_cmd(tmp_path, "report", "shift", "--hall", "hn-tja", "--since", "2026-11-23T00:00",
                 "--until", "2026-11-23T12:00", "--officer", "王值班", "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = pypdf.PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text()
    assert "值班交接班记录" in text and "王值班" in text and "locker-01" in text
    assert hall_cmd(tmp_path, "report", "shift", "--hall", "nowhere").returncode == 2
