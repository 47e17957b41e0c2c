"""Shared helpers for the device tests: a hall server whose MQTT client talks to a real broker,
tuned for short bounds (heartbeat 1 s), and simulated devices from ``firmware_sim``."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from firmware_sim.devices import SimDevice, make_device
from hall.bootstrap import Hall, build
from hall.clock import ManualClock
from hall.hallconfig import HallCfg, default_config_path, load_halls
from hall.iot.credentials import CredentialStore
from hall.settings import get_settings
from tests.brokers import Broker
from tests.conftest import _migrated_sqlite, _reset_pg, add_staff, pg_url, redis_url

API = "/api/v1/halls/hn-tja"

FAST_IOT = {
    "heartbeat_s": 1.0, "offline_after_missed": 2, "online_after_good": 2, "reboot_grace_s": 1.5,
    "command_timeout_s": 5, "report_every_s": 1,
}
FAST_LOCKER = {"door_confirm_s": 2, "door_open_alarm_s": 5}


def fast_config(**iot: Any) -> HallCfg:
    cfg = load_halls([default_config_path()])[0]
    locker = cfg.iot.locker.model_copy(update={**FAST_LOCKER, **iot.pop("locker", {})})
    return cfg.model_copy(update={"iot": cfg.iot.model_copy(update={**FAST_IOT, **iot, "locker": locker})})


def wait_until(fn: Callable[[], Any], timeout: float = 30.0, every: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def build_hall(tmp_path: Path, clock: ManualClock, broker: Broker | None, cfg: HallCfg | None = None, *,
               fresh: bool = True) -> Hall:
    """The example hall (fast bounds) whose MQTT client signs in to ``broker`` as the server (None:
    no MQTT); ``fresh=False``: the same data again, as after a restart."""
    env = {"HALL_DATA_DIR": str(tmp_path), "HALL_SECRET": "test-secret",
           "HALL_REDIS_PREFIX": f"hall-test-{tmp_path.name}"}
    url = pg_url()
    if url:
        if fresh:
            _reset_pg(url)
        env["HALL_DATABASE_URL"] = url
    elif fresh:
        shutil.copyfile(_migrated_sqlite(), tmp_path / "hall.db")
    if redis_url():
        env["HALL_REDIS_URL"] = redis_url() or ""
    h = build(None, settings=get_settings(env), clock=clock, halls=[cfg or fast_config()],
              mqtt=broker.url(broker.username, broker.password) if broker is not None else False)
    h.server.auto_staffing = False
    if fresh:
        add_staff(h)
    return h


@contextmanager
def running(h: Hall) -> Iterator[TestClient]:
    with TestClient(h.app) as client:
        assert h.server.iot.link is not None and h.server.iot.link.wait_connected(10), "server MQTT not connected"
        yield client


def provision(broker: Broker, specs: tuple[tuple[str, str], ...]) -> dict[str, tuple[str, str]]:
    """Credentials for each ``(kind, id)`` in the broker's store (``hall device add`` does the same);
    Mosquitto is told to reload its files."""
    if broker.store is None:
        return {}
    store = CredentialStore(broker.store)
    creds = {}
    for kind, dev_id in specs:
        p = store.add_device("hn-tja", dev_id, kind)
        creds[dev_id] = (p.username, p.password)
    broker.reload()
    return creds


@contextmanager
def devices(broker: Broker, *specs: tuple[str, str], **options: Any) -> Iterator[dict[str, SimDevice]]:
    """Start simulated devices ``(kind, id)``, each with its own credentials (keepalive 2 s,
    heartbeat 0.5 s), and stop them after."""
    out: dict[str, SimDevice] = {}
    creds = provision(broker, specs)
    try:
        for kind, dev_id in specs:
            user, password = creds.get(dev_id, (None, None))
            opts = {"heartbeat_s": 0.5, "keepalive": 2, **options}
            d = make_device(kind, dev_id, "hn-tja", broker.url(), username=user, password=password, **opts)
            out[dev_id] = d.start()
        for d in out.values():
            assert d.wait_connected(10), f"{d.device_id} did not connect"
        yield out
    finally:
        for d in out.values():
            d.stop(clean=True)


def twin(client: TestClient, headers: dict[str, str], device: str) -> dict[str, Any]:
    r = client.get(f"{API}/devices/{device}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def device_alarms(client: TestClient, headers: dict[str, str], device: str, type_: str | None = None,
                  state: str = "open") -> list[dict[str, Any]]:
    r = client.get(f"{API}/alarms", params={"state": state}, headers=headers)
    assert r.status_code == 200, r.text
    return [a for a in r.json() if a.get("device") == device and (type_ is None or a["type"] == type_)]
