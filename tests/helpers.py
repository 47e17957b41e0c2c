"""Small helpers for the API tests: paths, issuing tickets, window steps, error checks, the event log."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from litestar.testing import TestClient

from hall.queue.idcard import make_resident_id
from tests.conftest import MONDAY_0930, login

API = "/api/v1/halls/hn-tja"
TODAY = MONDAY_0930.date()  # the clock fixture's date

_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def resident_id(age: int, seq: int = 123) -> str:
    """A valid ID number of someone aged ``age`` on the clock fixture's date (born on 1 June)."""
    return make_resident_id("340102", date(TODAY.year - age, 6, 1), seq)


def bad_checksum(id_number: str) -> str:
    """The same number with a wrong check character."""
    wrong = "0" if id_number[-1] != "0" else "1"
    return id_number[:-1] + wrong


def issue(client: TestClient, service: str = "SB", channel: str = "walk_in", *,
          headers: dict[str, str] | None = None, **extra: Any) -> Any:
    """POST a ticket; returns the raw response."""
    return client.post(f"{API}/tickets", json={"service": service, "channel": channel, **extra},
                       headers=headers or {})


def take(client: TestClient, service: str = "SB", channel: str = "walk_in", **extra: Any) -> dict[str, Any]:
    """Issue a ticket that must succeed; returns its body."""
    r = issue(client, service, channel, **extra)
    assert r.status_code == 201, r.text
    return r.json()


def window_post(client: TestClient, window: str, action: str, headers: dict[str, str],
                body: Any = None) -> Any:
    return client.post(f"{API}/windows/{window}/{action}", headers=headers,
                       **({"json": body} if body is not None else {}))


def act(client: TestClient, window: str, action: str, headers: dict[str, str], body: Any = None) -> Any:
    """A window action that must answer 200; returns its JSON body."""
    r = window_post(client, window, action, headers, body)
    assert r.status_code == 200, r.text
    return r.json()


def call_next(client: TestClient, window: str, headers: dict[str, str]) -> dict[str, Any]:
    """call-next that must call someone; returns the called ticket."""
    return act(client, window, "call-next", headers)["ticket"]


def ticket(client: TestClient, ticket_id: str) -> dict[str, Any]:
    r = client.get(f"{API}/tickets/{ticket_id}")
    assert r.status_code == 200, r.text
    return r.json()


def ticket_list(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"{API}/tickets", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def window_state(client: TestClient, window: str) -> dict[str, Any]:
    r = client.get(f"{API}/windows")
    assert r.status_code == 200, r.text
    return next(w for w in r.json() if w["window"] == window)


def anonymous(client: TestClient) -> TestClient:
    """Forget the session cookie a login left in the client: the next request is nobody's."""
    client.cookies.clear()
    return client


def manager(client: TestClient) -> dict[str, str]:
    return login(client, "manager01")


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """An error answer: the status, JSON ``{error, detail}``, detail in Chinese and English."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert isinstance(body.get("detail"), str)
    assert _HAN.search(body["detail"]), f"no Chinese in {body['detail']!r}"
    assert _LATIN_WORD.search(body["detail"]), f"no English in {body['detail']!r}"
    if code is not None:
        assert body["error"] == code, body
    return body


def stored_event_texts(client: TestClient) -> list[str]:
    """Every stored event of the hall as sent, replayed through the WebSocket with ``since=0``."""
    with client.websocket_connect("/ws/halls/hn-tja") as ws:
        last = ws.receive_json()["seq"]  # the snapshot says how far the log goes
    texts: list[str] = []
    with client.websocket_connect("/ws/halls/hn-tja?since=0") as ws:
        seq = 0
        while seq < last:
            texts.append(ws.receive_text())
            seq = json.loads(texts[-1])["seq"]
    return texts


def stored_events(client: TestClient, type_: str | None = None) -> list[dict[str, Any]]:
    """The stored events (optionally of one type), oldest first."""
    events = [json.loads(t) for t in stored_event_texts(client)]
    return [e for e in events if type_ is None or e["type"] == type_]
