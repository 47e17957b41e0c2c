"""A live event is framed once for every screen (hall.web.stream._live): what a screen's WebSocket
library reads back must be the event exactly, whatever its length (the three length encodings)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from hall.stream import wire
from hall.web.stream import _live


class _Event:
    def __init__(self, seq: int, topic: str, envelope: str) -> None:
        self.seq, self.topic, self.envelope = seq, topic, envelope


def _read_back(frame: bytes) -> str:
    """Feed the frame to a real client-side protocol (as a screen's browser would parse it)."""
    client = ClientProtocol(parse_uri("ws://hall.example/ws/halls/hn-tja"), state=State.OPEN)
    client.receive_data(frame)
    (msg,) = client.events_received()
    assert msg.opcode is Opcode.TEXT and msg.fin
    return msg.data.decode()


@given(st.integers(min_value=1, max_value=2**40), st.sampled_from(["queue", "windows", "devices"]),
       st.sampled_from([0, 10, 125, 126, 200, 65_535, 65_536, 70_000]), st.text(max_size=8))
def test_a_framed_event_reads_back_as_the_event(seq, topic, size, tail) -> None:
    envelope = json.dumps({"type": "ticket.called", "seq": seq, "data": {"text": "请A001号到1号窗口" + "x" * size + tail}},
                          ensure_ascii=False)
    got_seq, got_topic, env, frame = _live(wire(_Event(seq, topic, envelope)))  # type: ignore[arg-type]
    assert (got_seq, got_topic, env) == (seq, topic, envelope)
    assert _read_back(frame) == envelope
