"""The provincial feed (#7): every wanted event reaches a local receiver exactly once after
deduplication by its key, in ``seq`` order, across a receiver that answers 503, one that is gone, one
whose answers are lost (duplicates on the wire) and a server restart; the backlog shows meanwhile."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from hall.bootstrap import Hall
from hall.clock import ManualClock
from hall.db.models import event_t
from hall.feed import backoff_s, url_host
from hall.hallconfig import HallCfg, default_config_path, load_halls
from tests.conftest import login, signed_in
from tests.helpers import API, act, anonymous, call_next, take
from tests.iot import build_hall

API_KEY = "feed-key-do-not-log-7f3a"
WANTED = ("ticket.issued", "ticket.called", "ticket.finished", "ticket.rated")


class Receiver:
    """The province's endpoint, in a thread: records every event it is sent (``wire``, in arrival
    order) and each request's headers. ``mode``: ``ok`` answers 200; ``503`` refuses without reading
    the events; ``drop`` takes the events and closes the connection without an answer (the sender
    cannot know they arrived). ``stop()`` and ``start()`` again keep the port."""

    def __init__(self) -> None:
        self.port = 0
        self.mode = "ok"
        self.wire: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/hall-events"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                mode = receiver.mode
                if mode == "503":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.requests.append({
                        "idempotency_key": self.headers.get("Idempotency-Key"),
                        "authorization": self.headers.get("Authorization"),
                        "path": self.path, "hall": body["hall"], "events": body["events"]})
                    receiver.wire.extend(body["events"])
                if mode == "drop":
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        server = self._server
        threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def keys(self) -> list[str]:
        """The event keys received, first arrival of each, in arrival order (the receiver's dedup)."""
        seen: dict[str, None] = {}
        with self.lock:
            for e in self.wire:
                seen.setdefault(e["key"], None)
        return list(seen)


def feed_config(url: str | None) -> HallCfg:
    cfg = load_halls([default_config_path()])[0]
    return cfg.model_copy(update={"feed": cfg.feed.model_copy(
        update={"url": url, "retry_min_s": 0.1, "retry_max_s": 0.5, "batch": 3})})


def wait_until(fn: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def wanted_events(h: Hall) -> list[tuple[int, dict[str, Any]]]:
    """The stored events the province wants, in order, straight from the event table."""
    with h.server.db.read_engine.connect() as conn:
        rows = conn.execute(select(event_t.c.seq, event_t.c.envelope)
                            .where(event_t.c.hall_id == "hn-tja", event_t.c.type.in_(WANTED))
                            .order_by(event_t.c.seq))
        return [(r.seq, json.loads(r.envelope)) for r in rows]


def all_arrived(h: Hall, receiver: Receiver) -> bool:
    return set(receiver.keys()) >= {f"hn-tja:{seq}" for seq, _ in wanted_events(h)}


def feed_state(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    r = client.get(f"{API}/feed", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def hall_alarms(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get(f"{API}/alarms", params={"source": "hall"}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def serve_one(client: TestClient, clerk: dict[str, str], rating: int | None = None) -> dict[str, Any]:
    t = call_next(client, "1", clerk)
    act(client, "1", "start", clerk)
    act(client, "1", "finish", clerk, {"rating": rating} if rating else None)
    return t


def test_feed_exactly_once_after_dedup_across_outage_and_restart(
        tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HALL_FEED_API_KEY", API_KEY)
    receiver = Receiver().start()
    cfg = feed_config(receiver.url)
    h = build_hall(tmp_path, clock, None, cfg)
    try:
        with TestClient(h.app) as client:
            clerk = signed_in(client, "1", "clerk01")
            duty = login(client, "duty01")
            # Up: tickets issued, called, finished with a rating and rated on the pad.
            for _ in range(3):
                take(client, "SB")
            serve_one(client, clerk, rating=4)
            t = serve_one(client, clerk)
            assert client.post(f"{API}/tickets/{t['id']}/rating", json={"rating": 2}).status_code == 200
            wait_until(lambda: all_arrived(h, receiver), "the first events at the receiver")
            wait_until(lambda: feed_state(client, duty)["backlog"] == 0, "an empty backlog")
            state = feed_state(client, duty)
            assert state["enabled"] and state["url_host"] == f"127.0.0.1:{receiver.port}"
            assert state["failures"] == 0 and state["last_delivered_at"] == clock.now().isoformat()

            # The platform answers 503: nothing is skipped, the backlog shows.
            receiver.mode = "503"
            for _ in range(3):
                take(client, "SB")
            call_next(client, "1", clerk)
            state = wait_until(lambda: (s := feed_state(client, duty))["failures"] >= 2 and s, "failures")
            assert state["backlog"] == 4 and state["last_error"].startswith("HTTP 503")
            assert state["next_try_at"] is not None
            metrics = client.get("/metrics").text
            assert 'hall_feed_backlog{hall="hn-tja"} 4' in metrics
            assert 'hall_feed_failures{hall="hn-tja"}' in metrics
            assert "hall_feed_last_success_seconds" in metrics

            # The platform is gone altogether; after ten minutes of the hall's clock it is an alarm.
            receiver.stop()
            take(client, "QY")
            act(client, "1", "start", clerk)
            state = wait_until(lambda: (s := feed_state(client, duty))["backlog"] == 5
                               and "ConnectError" in (s["last_error"] or "") and s, "connection refused")
            clock.advance(minutes=11)
            alarm = wait_until(lambda: next(iter(hall_alarms(client, duty)), None), "the feed_down alarm")
            assert alarm["type"] == "feed_down" and alarm["state"] == "active"

            # Back, but its answers are lost: the first held-back batch arrives again and again
            # (duplicates on the wire), and the sender, never hearing back, goes no further.
            sent = len(receiver.requests)
            receiver.mode = "drop"
            receiver.start()
            wait_until(lambda: len(receiver.requests) >= sent + 3, "retries of an unanswered batch")
            assert all(r["events"] == receiver.requests[-1]["events"] for r in receiver.requests[sent:])
            assert feed_state(client, duty)["backlog"] == 5  # none of it is acknowledged
        h.close()
        dropped = receiver.requests[-1]["events"]
        before_restart = len(receiver.requests)

        # A server restart with the batches unacknowledged: delivery resumes from the stored cursor.
        receiver.mode = "ok"
        h = build_hall(tmp_path, clock, None, cfg, fresh=False)
        with TestClient(h.app) as client:
            duty = login(client, "duty01")
            wait_until(lambda: feed_state(client, duty)["backlog"] == 0, "the backlog, after the restart")
            # It went on from the stored cursor: the unacknowledged batch again, not the whole log.
            assert receiver.requests[before_restart]["events"][0]["key"] == dropped[0]["key"]
            clerk = login(client, "clerk01")  # still signed in at window 1, serving
            act(client, "1", "finish", clerk, {"rating": 5})
            take(client, "SB")
            serve_one(client, clerk, rating=5)
            wait_until(lambda: all_arrived(h, receiver), "events after the restart")
            state = wait_until(lambda: (s := feed_state(client, duty))["backlog"] == 0 and s, "caught up")
            assert state["failures"] == 0 and state["last_error"] is None and state["next_try_at"] is None
            alarm = hall_alarms(client, duty)[0]
            assert alarm["type"] == "feed_down" and alarm["state"] != "active"  # cleared by the delivery
            stored = wanted_events(h)
            assert feed_state(client, duty)["last_seq"] >= stored[-1][0]
    finally:
        h.close()
        receiver.stop()

    # Exactly once after deduplication, in order, none missing, as stored.
    keys = receiver.keys()
    assert keys == [f"hn-tja:{seq}" for seq, _ in stored]
    assert {e["type"] for _, e in stored} == set(WANTED)
    first = {}
    for e in receiver.wire:
        first.setdefault(e["key"], e)
    for seq, envelope in stored:
        assert {k: v for k, v in first[f"hn-tja:{seq}"].items() if k != "key"} == envelope
    assert len(receiver.wire) > len(keys), "the outage should have put duplicates on the wire"
    # Every request: one hall, its events in seq order, the batch key, the platform's key.
    for r in receiver.requests:
        seqs = [e["seq"] for e in r["events"]]
        assert r["hall"] == "hn-tja" and seqs == sorted(seqs) and 1 <= len(seqs) <= 3
        assert r["idempotency_key"] == f"hn-tja:{seqs[0]}-{seqs[-1]}"
        assert r["authorization"] == f"Bearer {API_KEY}" and r["path"] == "/api/hall-events"
    assert API_KEY not in caplog.text


def test_feed_off_without_url(tmp_path: Path, clock: ManualClock):
    receiver = Receiver().start()
    h = build_hall(tmp_path, clock, None, feed_config(None))
    try:
        with TestClient(h.app) as client:
            take(client, "SB")
            manager = login(client, "manager01")
            state = feed_state(client, manager)
            assert state["enabled"] is False and state["url_host"] is None and state["backlog"] is None
            assert state["last_seq"] == 0 and state["failures"] == 0
            assert not h.app.state.feed.enabled
            assert "hall_feed" not in client.get("/metrics").text
            assert client.get(f"{API}/feed", headers=login(client, "clerk01")).status_code == 403
            assert anonymous(client).get(f"{API}/feed").status_code == 401
    finally:
        h.close()
        receiver.stop()
    assert receiver.wire == []


def test_backoff_doubles_with_jitter_within_bounds():
    rand = random.Random(7)
    for failures in range(1, 12):
        base = min(300.0, 1.0 * 2 ** (failures - 1))
        d = backoff_s(failures, 1.0, 300.0, rand=rand)
        assert base / 2 <= d <= base
    assert backoff_s(1, 1.0, 300.0, retry_after=60, rand=rand) == 60
    assert backoff_s(1, 1.0, 30.0, retry_after=600, rand=rand) == 30
    assert url_host("https://user:pw@zwfw.example.gov.cn:8443/api?k=1") == "zwfw.example.gov.cn:8443"
    assert url_host(None) is None
