"""The screen stream: snapshot, replay from ``since``, live events, topics, no gaps."""

from __future__ import annotations

import pytest

from tests.conftest import signed_in

API = "/api/v1/halls/hn-tja"


def take(client, service="SB"):
    r = client.post(f"{API}/tickets", json={"service": service, "channel": "walk_in"})
    assert r.status_code == 201, r.text
    return r.json()


def test_reconnect_with_since_gets_exactly_the_missed_events_then_live(client):
    headers = signed_in(client, "1", "clerk01")
    take(client)
    with client.websocket_connect("/ws/halls/hn-tja") as ws:
        snap = ws.receive_json()
        assert snap["type"] == "snapshot"
        last = snap["seq"]
        take(client)
        seen = ws.receive_json()
        assert seen["seq"] == last + 1 and seen["type"] == "ticket.issued"
        last = seen["seq"]
    # disconnected: the hall goes on
    missed_tickets = [take(client)["number"] for _ in range(3)]
    called = client.post(f"{API}/windows/1/call-next", headers=headers).json()["ticket"]["number"]
    with client.websocket_connect(f"/ws/halls/hn-tja?since={last}") as ws:
        replay = [ws.receive_json() for _ in range(5)]
        assert [m["seq"] for m in replay] == list(range(last + 1, last + 6))
        assert [m["data"]["ticket"] for m in replay[:3]] == missed_tickets
        assert [m["type"] for m in replay[3:]] == ["ticket.called", "window.state"]
        assert replay[3]["data"]["ticket"] == called
        # then live
        live = take(client)
        m = ws.receive_json()
        assert m["seq"] == last + 6 and m["data"]["ticket"] == live["number"]


def test_topics_filter_and_envelope(client):
    headers = signed_in(client, "1", "clerk01")
    take(client)
    client.post(f"{API}/windows/1/call-next", headers=headers)
    with client.websocket_connect("/ws/halls/hn-tja?since=0&topics=window") as ws:
        replay = [ws.receive_json() for _ in range(2)]
        assert [m["data"]["state"] for m in replay] == ["idle", "calling"]  # sign-in, call-next
        m = replay[-1]
        assert set(m) == {"seq", "type", "at", "hall", "data"} and m["hall"] == "hn-tja"
        assert m["at"].endswith("+08:00")
        take(client)  # a ticket event: filtered out
        client.post(f"{API}/windows/1/start", headers=headers)
        m2 = ws.receive_json()
        assert m2["type"] == "window.state" and m2["data"]["state"] == "serving"
        assert m2["seq"] > m["seq"]


def test_snapshot_shows_recent_callouts_and_waiting(client):
    headers = signed_in(client, "1", "clerk01")
    take(client)
    take(client, "YB")
    number = client.post(f"{API}/windows/1/call-next", headers=headers).json()["ticket"]["number"]
    with client.websocket_connect("/ws/halls/hn-tja") as ws:
        snap = ws.receive_json()
    data = snap["data"]
    assert data["callouts"][0]["ticket"] == number and data["callouts"][0]["window"] == "1"
    waiting = {s["code"]: s["waiting"] for s in data["services"]}
    assert waiting["SB"] + waiting["YB"] == 1
    assert {w["window"]: w["state"] for w in data["windows"]}["1"] == "calling"


@pytest.mark.parametrize("query", ["since=abc", "topics=nonsense", "since=-1"])
def test_bad_query_is_refused_with_a_reason(client, query):
    with client.websocket_connect(f"/ws/halls/hn-tja?{query}") as ws:
        m = ws.receive_json()
        assert m["error"] == "bad_request"


def test_unknown_hall_stream(client):
    with client.websocket_connect("/ws/halls/nowhere") as ws:
        assert ws.receive_json()["error"] == "unknown_hall"


def test_events_survive_a_restart(tmp_path, clock):
    """Events are in the database before anyone sees them: a new server replays them all."""
    from litestar.testing import TestClient

    from tests.conftest import add_staff, make_hall

    h = make_hall(tmp_path, clock)
    add_staff(h)
    with TestClient(h.app) as c:
        numbers = [take(c)["number"] for _ in range(3)]
    h.close()
    h2 = make_hall(tmp_path, clock)
    with TestClient(h2.app) as c, c.websocket_connect("/ws/halls/hn-tja?since=0&topics=ticket") as ws:
        assert [ws.receive_json()["data"]["ticket"] for _ in range(3)] == numbers
        assert take(c)["number"] == "A004"  # numbering continues, never reused
    h2.close()
