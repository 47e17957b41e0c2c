"""A hall's day: numbers restart each morning, and yesterday's waiting tickets are not called today."""

from __future__ import annotations

from litestar.testing import TestClient

from tests.conftest import signed_in

API = "/api/v1/halls/hn-tja"


def test_next_morning_numbers_restart_and_leftovers_expire(hall, clock):
    with TestClient(hall.app) as c:
        left = c.post(f"{API}/tickets", json={"service": "SB", "channel": "walk_in"}).json()
        assert left["number"] == "A001"
        clock.advance(hours=24)  # Tuesday 09:30
        assert hall.server.close_past_days() == 1
        assert c.get(f"{API}/tickets/{left['id']}").json()["status"] == "expired"
        today = c.post(f"{API}/tickets", json={"service": "SB", "channel": "walk_in"}).json()
        assert today["number"] == "A001" and today["ahead"] == 0
        headers = signed_in(c, "1", "clerk01")
        called = c.post(f"{API}/windows/1/call-next", headers=headers).json()["ticket"]
        assert called["id"] == today["id"]


def test_metrics_count_requests_and_tickets(client):
    client.post(f"{API}/tickets", json={"service": "SB", "channel": "walk_in"})
    text = client.get("/metrics").text
    assert 'hall_tickets_issued_total{channel="walk_in"} 1' in text
    assert 'route="/api/v1/halls/{hall}/tickets",status="201"' in text
    assert "hall_http_request_seconds_count" in text
