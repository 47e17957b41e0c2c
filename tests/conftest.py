"""Shared fixtures: a hall server on a fresh database, a clock that moves only when told.

Set ``HALL_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1/test``) to run the
database tests on PostgreSQL; every test then uses its own schema-free hall ids on one database
that is emptied first.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import TestClient

from hall.auth import add_user, hash_password
from hall.bootstrap import Hall, build
from hall.clock import ManualClock
from hall.settings import get_settings
from tests.brokers import Broker

TZ = ZoneInfo("Asia/Shanghai")
# A Monday in opening hours, whatever the real date and hour.
MONDAY_0930 = datetime(2026, 11, 23, 9, 30, tzinfo=TZ)
PASSWORD = "correct-horse-9"
DATA = Path(__file__).parent / "data"


def pg_url() -> str | None:
    return os.environ.get("HALL_TEST_DATABASE_URL") or None


_pg_schema_made: set[str] = set()


def _reset_pg(url: str) -> None:
    """An empty database for the next test: the schema is dropped and made again (by the server's
    migrations) once per test session; after that every table is emptied, which is much faster."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as c:
        tables = [r[0] for r in c.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'alembic_version'"))]
        if url not in _pg_schema_made or not tables:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            _pg_schema_made.add(url)
        else:
            c.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real MQTT broker on a free port with the hall's credential store (Mosquitto when installed,
    else the embedded one); ``broker.username``/``password`` are the server's account."""
    from tests.brokers import start_broker

    b = start_broker(tmp_path)
    yield b
    b.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_0930)


def redis_url() -> str | None:
    return os.environ.get("HALL_TEST_REDIS_URL") or None


@cache
def _migrated_sqlite() -> Path:
    """A SQLite file with the schema made by the migrations, once per test session: each test on
    SQLite starts from a copy (build() still runs the migrations on it, which find nothing to do)."""
    import tempfile

    from hall.db.database import Database

    path = Path(tempfile.mkdtemp(prefix="hall-schema-")) / "hall.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.close()
    return path


def make_hall(tmp_path: Path, clock: ManualClock, *, database_url: str | None = None,
              configs: list[Path] | None = None, redis: str | None = None) -> Hall:
    env = {"HALL_DATA_DIR": str(tmp_path), "HALL_SECRET": "test-secret",
           "HALL_REDIS_PREFIX": f"hall-test-{tmp_path.name}"}
    if database_url:
        env["HALL_DATABASE_URL"] = database_url
    elif not (tmp_path / "hall.db").exists():
        shutil.copyfile(_migrated_sqlite(), tmp_path / "hall.db")
    if redis:
        env["HALL_REDIS_URL"] = redis
    h = build(configs, settings=get_settings(env), clock=clock)
    # The clock moves only when a test says so; so does the staffing controller (staffing_tick()).
    h.server.auto_staffing = False
    return h


@pytest.fixture
def hall(tmp_path: Path, clock: ManualClock) -> Iterator[Hall]:
    """The bundled example hall with staff accounts: on SQLite in a temporary directory, or on
    PostgreSQL and Redis fan-out when HALL_TEST_DATABASE_URL / HALL_TEST_REDIS_URL are set."""
    url = pg_url()
    if url:
        _reset_pg(url)
    h = make_hall(tmp_path, clock, database_url=url, redis=redis_url())
    add_staff(h)
    yield h
    h.close()


@pytest.fixture
def sqlite_hall(tmp_path: Path, clock: ManualClock) -> Iterator[Hall]:
    """The example hall on SQLite, whatever the environment says."""
    h = make_hall(tmp_path, clock)
    add_staff(h)
    yield h
    h.close()


@pytest.fixture
def pg_hall(tmp_path: Path, clock: ManualClock) -> Iterator[Hall]:
    url = pg_url()
    if not url:
        pytest.skip("HALL_TEST_DATABASE_URL not set")
    _reset_pg(url)
    h = make_hall(tmp_path, clock, database_url=url)
    add_staff(h)
    yield h
    h.close()


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash once per test session


def add_staff(h: Hall) -> None:
    """clerk01..clerk20, duty01, fac01, manager01, admin01 (password PASSWORD), all of hn-tja; in one
    transaction (one commit instead of 24 for every test)."""
    pw = _password_hash()
    users = [(f"clerk{i:02d}", "clerk", f"工作人员{i:02d}", f"S{i:03d}") for i in range(1, 21)]
    users += [(name, role, "", "") for name, role in (("duty01", "duty_officer"), ("fac01", "facility"),
                                                      ("manager01", "manager"), ("admin01", "admin"))]

    def add_all(tx) -> None:  # noqa: ANN001
        for name, role, display, staff_no in users:
            add_user(tx, name, role, "", "hn-tja", display, staff_no, password_hash=pw)

    h.server.db.write_sync(add_all)


@pytest.fixture
def client(hall: Hall) -> Iterator[TestClient]:
    with TestClient(hall.app) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    """Sign in and return the Authorization header for that user."""
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def signed_in(client: TestClient, window: str, username: str, hall_id: str = "hn-tja") -> dict[str, str]:
    headers = login(client, username)
    r = client.post(f"/api/v1/halls/{hall_id}/windows/{window}/sign-in", headers=headers)
    assert r.status_code == 200, r.text
    return headers
