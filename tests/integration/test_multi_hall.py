"""One server, a city's halls: every row, path and event carries its hall, nothing leaks across."""

from __future__ import annotations

from functools import partial

import pytest
from litestar.testing import TestClient

from hall.auth import add_user
from hall.hallconfig import default_config_path
from tests.conftest import DATA, PASSWORD, _password_hash, _reset_pg, make_hall, pg_url


@pytest.fixture
def two_halls(tmp_path, clock):
    url = pg_url()
    if url:
        _reset_pg(url)
    h = make_hall(tmp_path, clock, database_url=url, configs=[default_config_path(), DATA / "hf-second.toml"])
    add = partial(add_user, password_hash=_password_hash())
    h.server.db.write_sync(add, "tja-clerk", "clerk", "", "hn-tja")
    h.server.db.write_sync(add, "bh-clerk01", "clerk", "", "hf-bh")
    with TestClient(h.app) as c:
        yield c
    h.close()


def _login(c, user):
    return {"Authorization": "Bearer " + c.post("/api/v1/auth/login",
                                                json={"username": user, "password": PASSWORD}).json()["token"]}


def test_numbers_queues_and_streams_are_per_hall(two_halls):
    c = two_halls
    a = c.post("/api/v1/halls/hn-tja/tickets", json={"service": "SB", "channel": "walk_in"}).json()
    b = c.post("/api/v1/halls/hf-bh/tickets", json={"service": "SB", "channel": "walk_in"}).json()
    assert a["number"] == b["number"] == "A001"  # each hall counts its own numbers
    assert c.get(f"/api/v1/halls/hf-bh/tickets/{a['id']}").status_code == 404  # not across halls
    with c.websocket_connect("/ws/halls/hf-bh?since=0") as ws:
        first = ws.receive_json()
        assert first["hall"] == "hf-bh" and first["seq"] == 1 and first["data"]["ticket_id"] == b["id"]
    waiting = {s["code"]: s["waiting"] for s in c.get("/api/v1/halls/hf-bh/services").json()}
    assert waiting == {"SB": 1, "HJ": 0}


def test_staff_of_one_hall_cannot_act_in_another(two_halls):
    c = two_halls
    headers = _login(c, "bh-clerk01")
    r = c.post("/api/v1/halls/hn-tja/windows/1/sign-in", headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "other_hall"
    assert c.post("/api/v1/halls/hf-bh/windows/1/sign-in", headers=headers).status_code == 200
