"""The deployment files (deploy/, docs/deploy.md) start commands the ``hall`` CLI accepts."""

from __future__ import annotations

import shlex
from pathlib import Path

from hall.cli import parser

DEPLOY = Path(__file__).parents[2] / "deploy"


def _hall_args(line: str) -> list[str]:
    words = shlex.split(line)
    i = next(i for i, w in enumerate(words) if w.endswith("/hall") or w == "hall")
    return words[i + 1:]


def test_the_systemd_unit_and_the_procfile_start_shared_port_servers():
    unit = (DEPLOY / "systemd" / "hall@.service").read_text(encoding="utf-8")
    starts = [ln.split("=", 1)[1] for ln in unit.splitlines() if ln.startswith("ExecStart=")]
    procfile = [ln.split(":", 1)[1] for ln in (DEPLOY / "Procfile").read_text(encoding="utf-8").splitlines()
                if ln and not ln.startswith("#")]
    assert len(starts) == 1 and len(procfile) >= 2
    for line in starts + procfile:
        args = parser().parse_args(_hall_args(line))
        assert args.command == "serve" and args.reuse_port and args.port == 8000
    assert "HALL_NODE=%H-%i" in unit  # each process its own node id (and MQTT client id)


def test_the_environment_example_names_what_several_processes_need():
    env = (DEPLOY / "systemd" / "hall.env.example").read_text(encoding="utf-8")
    for key in ("HALL_DATABASE_URL=postgresql", "HALL_REDIS_URL=redis", "HALL_MQTT_URL=mqtt", "HALL_SECRET="):
        assert key in env


def test_several_processes_are_refused_without_postgresql_redis_and_a_broker(monkeypatch, tmp_path, capsys):
    from hall.cli import main

    for k in ("HALL_DATABASE_URL", "HALL_REDIS_URL", "HALL_MQTT_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HALL_DATA_DIR", str(tmp_path))
    assert main(["serve", "--workers", "2", "--port", "0"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err
    monkeypatch.setenv("HALL_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["serve", "--reuse-port", "--port", "0"]) == 2
    assert "HALL_REDIS_URL" in capsys.readouterr().err
    monkeypatch.setenv("HALL_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["serve", "--reuse-port", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "HALL_MQTT_URL" in err and "多进程" in err
