"""The core loop in one breath: take a ticket, call it, the screen stream shows the call-out."""

from tests.conftest import signed_in


def test_ticket_called_reaches_the_stream(client):
    r = client.post("/api/v1/halls/hn-tja/tickets", json={"service": "SB", "channel": "walk_in"})
    assert r.status_code == 201
    number = r.json()["number"]
    headers = signed_in(client, "1", "clerk01")
    with client.websocket_connect("/ws/halls/hn-tja") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        r = client.post("/api/v1/halls/hn-tja/windows/1/call-next", headers=headers)
        assert r.status_code == 200 and r.json()["ticket"]["number"] == number
        msg = ws.receive_json()
        assert msg["type"] == "ticket.called"
        assert msg["data"]["announcement"] == f"请{number}号到1号窗口办理"
