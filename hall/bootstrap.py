"""Wiring: settings + hall files -> a prepared HallServer and its app. The CLI and tests use this."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from litestar import Litestar

from hall.clock import Clock, clock_from_env
from hall.db.database import Database
from hall.hallconfig import HallCfg, default_config_path, load_halls
from hall.iot.broker import MqttEndpoint, mqtt_endpoint
from hall.iot.client import BrokerAddress
from hall.iot.credentials import CredentialStore
from hall.iot.service import IotService
from hall.queue.ankang import HttpAnkangVerifier
from hall.queue.ankang_standin import StandinServer
from hall.server import HallServer
from hall.settings import Settings, get_settings
from hall.web.app import create_app

log = logging.getLogger(__name__)


@dataclass
class Hall:
    """A whole configured hall server: the app plus what must be stopped with it."""

    settings: Settings
    server: HallServer
    app: Litestar
    standin: StandinServer | None = None
    mqtt: MqttEndpoint | None = None  # the embedded broker, when this process runs it
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.standin is not None:
            self.standin.stop()
        if self.mqtt is not None:
            self.mqtt.close()
        self.server.db.close()


def _client_id(settings: Settings) -> str:
    """The server's MQTT client id: one per process, the same after a restart (its persistent
    session, and what the broker queued for it, is picked up again). Several processes
    (``HALL_NODE``) must not share one: the broker would cut each off when the other connects."""
    node = os.environ.get("HALL_NODE")
    return f"hall-server-{node}" if node else f"hall-server-{settings.data_dir.name}"


def build(
    config_paths: Sequence[str | Path] | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    halls: Sequence[HallCfg] | None = None,
    mqtt: str | bool = False,
) -> Hall:
    """A prepared hall server.

    ``mqtt``: a broker URL (``mqtt://user:pass@host:port``) for the server's MQTT client; ``True``
    for what the settings say (``HALL_MQTT_URL``, else the embedded broker on ``HALL_MQTT_BIND``),
    ``"any-port"`` the same but the embedded broker takes a free port if that one is taken (the
    demo); ``False``: no MQTT (devices are registered and listed, nothing is received)."""
    settings = settings or get_settings()
    cfgs = list(halls) if halls is not None else load_halls(list(config_paths or [default_config_path()]))
    clock = clock or clock_from_env(settings.clock)
    db = Database(settings.database_url)
    server = HallServer.build(db, cfgs, clock, settings.secret)
    server.ws_send_timeout_s = settings.ws_send_timeout_s
    server.prepare()
    endpoint = None
    address = None
    if isinstance(mqtt, str) and mqtt != "any-port":
        address = BrokerAddress.parse(mqtt)
    elif mqtt:
        endpoint = mqtt_endpoint(settings, any_port=mqtt == "any-port")
        address = BrokerAddress(endpoint.host, endpoint.port, endpoint.username, endpoint.password, endpoint.tls)
    server.iot = IotService(server, address,
                            client_id=os.environ.get("HALL_MQTT_CLIENT_ID") or _client_id(settings),
                            shared_group=os.environ.get("HALL_MQTT_SHARED") or None)
    server.iot.credentials = CredentialStore.for_data_dir(settings.data_dir)
    server.iot.prepare()
    standin = None
    for cfg in cfgs:
        mode = cfg.ankang.mode
        if mode == "http":
            server.verifiers[cfg.id] = HttpAnkangVerifier(
                cfg.ankang.url or "", os.environ.get(cfg.ankang.api_key_env, ""), timeout=cfg.ankang.timeout_s
            )
        elif mode == "standin":
            if standin is None:
                standin = StandinServer()
                standin.start()
            server.verifiers[cfg.id] = HttpAnkangVerifier(standin.url, standin.api_key,
                                                          timeout=cfg.ankang.timeout_s)
        else:
            server.verifiers[cfg.id] = None
    app = create_app(server, redis_url=settings.redis_url, redis_prefix=settings.redis_prefix)
    return Hall(settings=settings, server=server, app=app, standin=standin, mqtt=endpoint)
