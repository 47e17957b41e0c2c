"""好差评 from the rating pad after the clerk has finished (and may already be calling the next)."""

from tests.conftest import signed_in

API = "/api/v1/halls/hn-tja"


def _served(client, clock):
    headers = signed_in(client, "1", "clerk01")
    t = client.post(f"{API}/tickets", json={"service": "SB", "channel": "walk_in"}).json()
    client.post(f"{API}/windows/1/call-next", headers=headers)
    client.post(f"{API}/windows/1/start", headers=headers)
    client.post(f"{API}/windows/1/finish", headers=headers)
    return t, headers


def test_rating_after_finish_once(client, clock):
    t, headers = _served(client, clock)
    client.post(f"{API}/tickets", json={"service": "SB", "channel": "walk_in"})
    assert client.post(f"{API}/windows/1/call-next", headers=headers).status_code == 200  # not blocked
    r = client.post(f"{API}/tickets/{t['id']}/rating", json={"rating": 5})
    assert r.status_code == 200 and r.json()["level"] == "非常满意"
    again = client.post(f"{API}/tickets/{t['id']}/rating", json={"rating": 1})
    assert again.status_code == 409 and again.json()["error"] == "already_rated"
    with client.websocket_connect("/ws/halls/hn-tja?since=0&topics=ticket") as ws:
        types = [ws.receive_json()["type"] for _ in range(7)]
    assert types[-1] == "ticket.rated"


def test_rating_refused_before_finish_late_or_out_of_range(client, clock):
    t, _ = _served(client, clock)
    waiting = client.post(f"{API}/tickets", json={"service": "YB", "channel": "walk_in"}).json()
    r = client.post(f"{API}/tickets/{waiting['id']}/rating", json={"rating": 4})
    assert r.status_code == 409 and r.json()["error"] == "ticket_state"
    assert client.post(f"{API}/tickets/{t['id']}/rating", json={"rating": 6}).status_code == 400
    clock.advance(minutes=16)
    late = client.post(f"{API}/tickets/{t['id']}/rating", json={"rating": 4})
    assert late.status_code == 409 and late.json()["error"] == "rating_closed"
