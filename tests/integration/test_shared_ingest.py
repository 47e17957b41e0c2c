"""Scale-out of ingestion (#5): server clients in one MQTT shared-subscription group split the
device messages between them, each message to exactly one (Mosquitto)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from hall.iot.client import BrokerAddress, MqttLink
from tests.brokers import mosquitto_available, start_broker


@pytest.mark.skipif(not mosquitto_available(), reason="shared subscriptions need Mosquitto (amqtt has none)")
async def test_two_ingestion_workers_split_the_messages(tmp_path: Path) -> None:
    broker = start_broker(tmp_path, kind="mosquitto")
    loop = asyncio.get_running_loop()
    got: dict[str, list[str]] = {"w1": [], "w2": []}
    links = {}
    try:
        addr = BrokerAddress(broker.host, broker.port, broker.username, broker.password)
        for name in got:
            link = MqttLink(addr, f"ingest-{name}", shared_group="hall-ingest")

            def drain(link: MqttLink = link, name: str = name) -> None:
                msgs = link.take(1000)
                got[name] += [json.loads(m.payload)["id"] for m in msgs]
                link.ack([m.mid for m in msgs if m.qos])

            link.start(loop, drain)
            links[name] = link
        for link in links.values():
            assert await asyncio.to_thread(link.wait_connected, 10)
        await asyncio.sleep(0.3)  # subscriptions in place
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        pub.username_pw_set(broker.username, broker.password)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        sent = [f"m{i}" for i in range(400)]
        for i, mid in enumerate(sent):
            pub.publish(f"hall/hn-tja/device/kiosk-{i % 4 + 1:02d}/event", json.dumps({"id": mid}), qos=1)
        for _ in range(200):
            if len(got["w1"]) + len(got["w2"]) >= len(sent):
                break
            await asyncio.sleep(0.05)
        pub.loop_stop()
        assert sorted(got["w1"] + got["w2"]) == sorted(sent)  # every message once, none twice
        assert got["w1"] and got["w2"]  # and both workers had a share
    finally:
        for link in links.values():
            await asyncio.to_thread(link.stop)
        broker.stop()
