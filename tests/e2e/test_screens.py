"""The hall screen and the window screen in headless Chromium, against the real server.

Headless Chromium has no Chinese voice: the hall screen says so in its status line and its
announcer simulates speaking (each call-out held ``?speak_ms=`` ms), so the serialized queue
(``window.hallAnnouncer``) is observable.
"""

from __future__ import annotations

import socket
import threading
from datetime import date
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import expect

from hall.queue.idcard import make_resident_id
from tests.conftest import PASSWORD, make_hall, pg_url, redis_url
from tests.e2e.conftest import screenshot
from tests.live import LiveServer

HALL = "hn-tja"
SECOND = 1000  # ms: "within one second"


class Desk:
    """The REST side of a test: issue tickets, sign clerks in, call."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url + "/api/v1", timeout=10)
        self.tokens: dict[str, dict[str, str]] = {}

    def issue(self, service: str = "SB", channel: str = "walk_in", credential: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"service": service, "channel": channel}
        if credential:
            body["credential"] = credential
        r = self.http.post(f"/halls/{HALL}/tickets", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def login(self, user: str) -> dict[str, str]:
        r = self.http.post("/auth/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def sign_in(self, window: str, user: str) -> None:
        headers = self.login(user)
        r = self.http.post(f"/halls/{HALL}/windows/{window}/sign-in", headers=headers)
        assert r.status_code == 200, r.text
        self.tokens[window] = headers

    def act(self, window: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        r = self.http.post(f"/halls/{HALL}/windows/{window}/{action}", headers=self.tokens[window], json=body)
        assert r.status_code in (200, 204), r.text
        return r.json() if r.status_code == 200 else None

    def call_next(self, window: str) -> dict[str, Any]:
        answer = self.act(window, "call-next")
        assert answer is not None, "nobody waiting"
        return answer["ticket"]


class PortServer(LiveServer):
    """LiveServer on a given port: the restart test needs the same address twice."""

    def __init__(self, app: Any, port: int) -> None:  # noqa: D107 - same as LiveServer, fixed port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)


def announcer(page) -> dict[str, Any]:
    return page.evaluate("() => JSON.parse(JSON.stringify(window.hallAnnouncer))")


def wait_announced(page, text: str, timeout: int = SECOND) -> None:
    page.wait_for_function(
        "t => window.hallAnnouncer && (window.hallAnnouncer.queue.includes(t) || window.hallAnnouncer.spoken.includes(t))",
        arg=text, timeout=timeout)


def open_hall_screen(new_page, live, query: str = "", width: int = 1920, height: int = 1080):
    page = new_page(width, height)
    page.goto(f"{live.url}/screen/hall/{HALL}{query}")
    expect(page.locator("#status")).to_contain_text("实时连接正常")
    return page


def open_window_screen(new_page, live, window: str = "1"):
    page = new_page(1280, 720)
    page.goto(f"{live.url}/screen/window/{HALL}/{window}")
    expect(page.locator("#status")).to_contain_text("实时")
    return page


def test_call_shows_on_both_screens_within_a_second_and_is_announced(live, new_page):
    desk = Desk(live.url)
    screen = open_hall_screen(new_page, live)
    window = open_window_screen(new_page, live)
    desk.sign_in("1", "clerk01")
    expect(window.locator("#clerk-name")).to_have_text("工作人员01")
    expect(window.locator("#clerk-no")).to_have_text("工号 S001")
    expect(window.locator("#state")).to_have_text("空闲")

    t = desk.issue("SB")
    assert t["number"] == "A001"
    expect(screen.locator("#services tr", has_text="社保").locator(".svc-waiting")).to_contain_text("1")
    desk.call_next("1")

    expect(screen.locator("#current-number")).to_have_text("A001", timeout=SECOND)
    expect(screen.locator("#current-window")).to_have_text("1号窗口", timeout=SECOND)
    expect(window.locator("#number")).to_have_text("A001", timeout=SECOND)
    expect(window.locator("#state")).to_have_text("叫号中", timeout=SECOND)
    wait_announced(screen, "请A001号到1号窗口办理")
    expect(screen.locator("#services tr", has_text="社保").locator(".svc-waiting")).to_contain_text("0")
    # Headless Chromium has no Chinese voice: the screen says so and only displays.
    expect(screen.locator("#status")).to_contain_text("本机无中文语音，仅显示")

    desk.act("1", "start")
    expect(window.locator("#state")).to_have_text("服务中")
    desk.act("1", "finish")
    expect(window.locator("#state")).to_have_text("空闲")
    desk.act("1", "pause", {"reason": "系统维护"})
    expect(window.locator("#state")).to_have_text("暂停服务（系统维护）")


def test_second_call_during_an_announcement_is_queued_not_dropped(live, new_page):
    desk = Desk(live.url)
    screen = open_hall_screen(new_page, live, "?speak_ms=60000&repeat=1")
    desk.sign_in("1", "clerk01")
    desk.sign_in("2", "clerk02")
    desk.issue("SB")
    desk.issue("YB")
    desk.call_next("1")
    screen.wait_for_function("() => window.hallAnnouncer.current === '请A001号到1号窗口办理'")
    desk.call_next("2")
    expect(screen.locator("#current-number")).to_have_text("B001", timeout=SECOND)
    wait_announced(screen, "请B001号到2号窗口办理")
    a = announcer(screen)
    assert a["current"] == "请A001号到1号窗口办理", a     # still speaking the first: not cut off
    assert a["spoken"] == ["请A001号到1号窗口办理"], a
    assert a["queue"] == ["请B001号到2号窗口办理"], a      # the second waits its turn

    # A recall is spoken again, after what is already queued.
    desk.act("1", "recall")
    screen.wait_for_function("() => window.hallAnnouncer.queue.length === 2")
    assert announcer(screen)["queue"] == ["请B001号到2号窗口办理", "请A001号到1号窗口办理"]
    expect(screen.locator("#current-number")).to_have_text("A001")
    expect(screen.locator("#current-recall")).to_be_visible()


def test_queue_is_spoken_in_order_with_repeats(live, new_page):
    desk = Desk(live.url)
    screen = open_hall_screen(new_page, live, "?speak_ms=50&repeat=3")
    desk.sign_in("1", "clerk01")
    for _ in range(3):
        desk.issue("SB")
    for _ in range(3):
        desk.call_next("1")
        desk.act("1", "no-show")
    screen.wait_for_function("() => window.hallAnnouncer.spoken.length === 3 && !window.hallAnnouncer.current"
                             " && window.hallAnnouncer.queue.length === 0")
    assert announcer(screen)["spoken"] == [f"请A00{i}号到1号窗口办理" for i in (1, 2, 3)]


def test_screen_recovers_after_a_server_restart_and_shows_what_it_missed(hall, tmp_path, clock, new_page):
    first = PortServer(hall.app, 0)
    first.port = first.sock.getsockname()[1]
    port = first.port
    with first:
        desk = Desk(first.url)
        screen = open_hall_screen(new_page, first)
        window = open_window_screen(new_page, first)
        desk.sign_in("1", "clerk01")
        for _ in range(2):
            desk.issue("SB")
        desk.call_next("1")
        expect(screen.locator("#current-number")).to_have_text("A001")
    # The server is gone: both screens say so.
    expect(screen.locator("#status")).to_contain_text("连接中断")
    expect(window.locator("#status")).to_contain_text("连接中断")

    again = make_hall(tmp_path, clock, database_url=pg_url(), redis=redis_url())
    try:
        with PortServer(again.app, port) as second:
            desk = Desk(second.url)
            desk.sign_in("1", "clerk01")
            desk.act("1", "start")
            desk.call_next("1")          # finishes A001, calls A002 while the screens may still be away
            expect(screen.locator("#status")).to_contain_text("实时连接正常", timeout=15000)
            expect(screen.locator("#current-number")).to_have_text("A002")
            expect(screen.locator("#recent")).to_contain_text("A001")
            wait_announced(screen, "请A002号到1号窗口办理")
            expect(window.locator("#number")).to_have_text("A002")
            expect(window.locator("#status")).not_to_contain_text("连接中断")
    finally:
        again.close()


def test_window_screen_shows_b_post_on_duty(live, new_page):
    desk = Desk(live.url)
    window = open_window_screen(new_page, live, "1")
    desk.sign_in("1", "clerk12")   # window 1: post a = clerk01, b = clerk12
    expect(window.locator("#clerk-name")).to_have_text("工作人员12")
    expect(window.locator("#clerk-no")).to_have_text("工号 S012")
    windows = desk.http.get(f"/halls/{HALL}/windows").json()
    post = next(w for w in windows if w["window"] == "1")["post"]
    if post.get("on_duty") == post.get("b"):
        expect(window.locator("#duty")).to_have_text("由B岗代岗")
    else:
        expect(window.locator("#duty")).to_be_hidden()


def test_screens_show_no_id_number_or_full_name(live, new_page):
    desk = Desk(live.url)
    id_number = make_resident_id("341181", date(1958, 3, 7), 21)
    frames: list[str] = []
    screen = new_page(1920, 1080)
    screen.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    screen.goto(f"{live.url}/screen/hall/{HALL}")
    expect(screen.locator("#status")).to_contain_text("实时连接正常")
    window = open_window_screen(new_page, live)
    desk.sign_in("1", "clerk01")
    t = desk.issue("SB", "id_card", id_number)
    desk.call_next("1")
    expect(screen.locator("#current-number")).to_have_text(t["number"])
    expect(window.locator("#number")).to_have_text(t["number"])
    track = new_page(390, 844)
    track.goto(t["track_url"])
    expect(track.locator("#called-window")).to_have_text("1号窗口")
    assert any(t["number"] in f for f in frames)                     # the stream was seen ...
    assert not any(id_number in f or id_number[6:14] in f for f in frames)   # ... without the ID
    for page in (screen, window, track):
        for text in (page.content(), page.inner_text("body")):
            assert id_number not in text and id_number[-6:] not in text and id_number[:14] not in text


def _busy_hall(desk: Desk, clock) -> str:
    """A realistic mid-morning: several windows, tickets of several services, a few call-outs."""
    for window, user in (("1", "clerk01"), ("2", "clerk02"), ("3", "clerk03"), ("5", "clerk05"), ("6", "clerk06")):
        desk.sign_in(window, user)
    for service, n in (("SB", 9), ("YB", 6), ("GJJ", 3), ("BDC", 5), ("QY", 2), ("HJ", 7), ("SW", 3)):
        for _ in range(n):
            desk.issue(service)
            clock.advance(20)
    for window in ("5", "6", "2", "3", "1", "6", "2", "5"):
        clock.advance(40)
        desk.call_next(window)
        desk.act(window, "start")
    desk.act("3", "finish")
    desk.act("3", "pause", {"reason": "临时离岗"})
    clock.advance(50)
    return desk.call_next("1")["number"]


def test_screenshots(live, new_page, clock):
    desk = Desk(live.url)
    last = _busy_hall(desk, clock)
    screen = open_hall_screen(new_page, live)
    expect(screen.locator("#current-number")).to_have_text(last)
    expect(screen.locator("#recent .hs-recent-item:not(.blank)")).to_have_count(8)
    expect(screen.locator("#status")).to_contain_text("本机无中文语音")
    screenshot(screen, "hall-screen")
    portrait = open_hall_screen(new_page, live, width=1080, height=1920)
    expect(portrait.locator("#current-number")).to_have_text(last)
    screenshot(portrait, "hall-screen-portrait")
    window = open_window_screen(new_page, live, "6")
    expect(window.locator("#state")).to_have_text("服务中")
    expect(window.locator("#clerk-name")).to_have_text("工作人员06")
    expect(window.locator("#window-services")).to_contain_text("社保")
    screenshot(window, "window-screen")
    paused = open_window_screen(new_page, live, "3")
    expect(paused.locator("#state")).to_have_text("暂停服务（临时离岗）")


def test_screen_without_chinese_voice_can_use_the_servers_speech(live, new_page):
    """Headless Chromium has no Chinese voice: with ?audio=server the screen fetches the call-out
    spoken by the server (espeak-ng) instead of staying silent."""
    desk = Desk(live.url)
    desk.sign_in("1", "clerk01")
    desk.issue()
    page = open_hall_screen(new_page, live, "?audio=server&repeat=1")
    expect(page.locator("#status")).to_contain_text("由服务器播报")
    with page.expect_response(lambda r: "/announce.wav" in r.url, timeout=5 * SECOND) as got:
        desk.call_next("1")
    response = got.value
    assert "A001" in httpx.URL(response.url).params["text"]
    assert response.status in (200, 503)  # 503 only where espeak-ng is not installed
