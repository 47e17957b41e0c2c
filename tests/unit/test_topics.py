"""MQTT topics, payloads and broker addresses (pure, #5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall.iot.client import BrokerAddress
from hall.iot.payloads import Rejected, decode
from hall.iot.topics import Kind, classify


@pytest.mark.parametrize(("topic", "kind", "device"), [
    ("hall/hn-tja/device/kiosk-01/status", Kind.STATUS, "kiosk-01"),
    ("hall/hn-tja/device/kiosk-01/telemetry", Kind.TELEMETRY, "kiosk-01"),
    ("hall/hn-tja/device/kiosk-01/event", Kind.EVENT, "kiosk-01"),
    ("hall/hn-tja/device/kiosk-01/cmd/ack", Kind.ACK, "kiosk-01"),
    ("hall/hn-tja/device/kiosk-01/cmd", Kind.OWN, "kiosk-01"),
    ("hall/hn-tja/window/3/display", Kind.OWN, ""),
    ("hall/hn-tja/device/kiosk-01/diag", Kind.BAD, "kiosk-01"),
    ("hall/hn-tja/device/kiosk-01/cmd/ack/x", Kind.BAD, "kiosk-01"),
    ("hall/hn-tja/lobby/x/y", Kind.BAD, ""),
    ("other/hn-tja/device/kiosk-01/status", Kind.BAD, ""),
    ("hall//device/kiosk-01/status", Kind.BAD, ""),
])
def test_classify(topic: str, kind: Kind, device: str) -> None:
    t = classify(topic)
    assert t.kind is kind
    assert t.device == device


@given(st.text(max_size=200))
def test_classify_never_raises(topic: str) -> None:
    assert classify(topic).kind in Kind


@given(st.binary(max_size=300))
def test_decode_rejects_garbage_with_a_reason(payload: bytes) -> None:
    try:
        decode("telemetry", payload, 256)
    except Rejected as r:
        assert r.reason in ("oversized", "malformed", "schema")


def test_broker_addresses() -> None:
    assert BrokerAddress.parse("mqtt://u:p%40ss@broker:1884") == BrokerAddress("broker", 1884, "u", "p@ss")
    assert BrokerAddress.parse("mqtts://broker").port == 8883 and BrokerAddress.parse("mqtts://broker").tls
    assert BrokerAddress.parse("127.0.0.1").port == 1883
    with pytest.raises(ValueError):
        BrokerAddress.parse("http://broker")
