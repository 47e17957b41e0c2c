"""Fuzzed MQTT input never stops ingestion (#5, #8): whatever arrives on whatever topic, every
message is either accepted or counted as rejected, nothing raises, and a good message after the
garbage is still taken."""

from __future__ import annotations

import json
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from hall.clock import ManualClock
from hall.hallconfig import default_config_path, load_halls
from hall.iot.client import Message
from hall.iot.ingest import Ingest
from hall.iot.topics import Kind, classify
from hall.metrics import Metrics
from hall.runtime import HallRuntime
from tests.conftest import MONDAY_0930

CFG = load_halls([default_config_path()])[0]
DEVICES = [d for d in CFG.devices]


def fresh() -> Ingest:
    h = HallRuntime(CFG, ManualClock(MONDAY_0930), b"secret")
    ing = Ingest({h.id: h}, Metrics())
    for d in DEVICES:
        ing.add(SimpleNamespace(hall_id=h.id, device=d.id, kind=d.kind, location=d.location, window=d.window,
                                fw=None, skew_ms=None, metrics="{}", online=False, boot=None, conn_since_ms=None,
                                last_seen_ms=None), 0)
    return ing


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
leaves = st.sampled_from(["status", "telemetry", "event", "cmd/ack", "cmd", "diag", "", "status/x"])
topics = st.one_of(
    st.builds(lambda d, leaf: f"hall/hn-tja/device/{d.id}/{leaf}", st.sampled_from(DEVICES), leaves),
    st.builds(lambda d, leaf: f"hall/{d}/device/x/{leaf}", st.text(max_size=6), leaves),
    st.text(max_size=60),
)
payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.fixed_dictionaries({"state": st.sampled_from(["online", "offline", "x"]), "boot": json_values},
                          optional={"kind": json_values, "fw": json_values}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"ts": json_values, "seq": json_values, "metrics": json_values,
                           "type": json_values, "detail": json_values}).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(topics, payloads, st.integers(0, 1)), min_size=1, max_size=30))
def test_garbage_never_stops_ingestion(msgs) -> None:
    ing = fresh()
    batch = [Message(t, p, q, i + 1, False, 1_000 + i) for i, (t, p, q) in enumerate(msgs)]
    acks = ing.process(batch)
    assert acks == [m.mid for m in batch if m.qos]  # every QoS 1 message is acknowledged, kept or not
    own = sum(1 for m in batch if classify(m.topic).kind is Kind.OWN)  # the server's own topics: skipped
    assert ing.accepted + ing.rejected + own == len(batch)  # every other message is kept or counted
    assert ing.metrics.counters.get(("hall_mqtt_rejected_total", (("reason", "error"),)), 0) == 0  # no crash
    for op in ing.take_ops():
        assert op[0] == "hn-tja"  # whatever it decided is about a hall of ours
    # a good message still goes in afterwards
    good = Message("hall/hn-tja/device/kiosk-01/telemetry",
                   json.dumps({"ts": 5_000, "seq": 10**6, "metrics": {"paper_pct": 50}}).encode(), 0, 0, False, 5_000)
    before = ing.accepted
    ing.process([good])
    assert ing.accepted == before + 1
    assert ing.twins[("hn-tja", "kiosk-01")].metrics == {"paper_pct": 50}
