"""The rating pad in a real browser: it asks after a finish at its window and stores one rating."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot

HALL = "/api/v1/halls/hn-tja"


def clerk_at(live, window: str, username: str) -> dict[str, str]:
    token = httpx.post(live.url + "/api/v1/auth/login", json={"username": username, "password": PASSWORD}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{live.url}{HALL}/windows/{window}/sign-in", headers=headers).raise_for_status()
    return headers


def serve_one(live, headers: dict[str, str], window: str = "1", service: str = "SB") -> dict:
    httpx.post(live.url + HALL + "/tickets", json={"service": service, "channel": "walk_in"}).raise_for_status()
    called = httpx.post(f"{live.url}{HALL}/windows/{window}/call-next", headers=headers).json()["ticket"]
    for step in ("start", "finish"):
        httpx.post(f"{live.url}{HALL}/windows/{window}/{step}", headers=headers).raise_for_status()
    return called


def open_pad(live, new_page, window: str = "1"):
    page = new_page(1280, 800)
    page.goto(f"{live.url}/rate/hn-tja/{window}")
    expect(page.locator("body")).to_have_attribute("data-synced", "1")
    expect(page.locator("#idle")).to_be_visible()
    return page


def rated_events(ws_url: str) -> list[dict]:
    """Every ``ticket.rated`` event so far: replayed from the start (``since=0``) until the stream goes quiet."""
    out = []
    with connect(f"{ws_url}/ws/halls/hn-tja?since=0&topics=ticket") as ws:
        while True:
            try:
                msg = json.loads(ws.recv(timeout=1.0))
            except TimeoutError:
                return out
            if msg.get("type") == "ticket.rated":
                out.append(msg["data"])


def test_finish_shows_the_five_levels_and_a_tap_stores_the_rating(live, new_page):
    page = open_pad(live, new_page)
    headers = clerk_at(live, "1", "clerk01")
    ticket = serve_one(live, headers)

    expect(page.locator("#ask")).to_be_visible()
    expect(page.locator("#which")).to_contain_text(ticket["number"])
    levels = page.locator(".level .t")
    expect(levels).to_have_text(["非常满意", "满意", "基本满意", "不满意", "非常不满意"])
    screenshot(page, "rate")

    page.get_by_role("button", name="非常满意").click()
    expect(page.locator("#thanks")).to_be_visible()
    expect(page.locator("#thanks-title")).to_have_text("感谢您的评价！")
    # stored once: a second rating is refused, and the stream has the event with rating 5
    again = httpx.post(f"{live.url}{HALL}/tickets/{ticket['id']}/rating", json={"rating": 3})
    assert again.status_code == 409 and again.json()["error"] == "already_rated"
    events = rated_events(live.ws_url)
    assert [(e["ticket_id"], e["rating"]) for e in events] == [(ticket["id"], 5)]


def test_pad_ignores_other_windows_and_follows_the_newest_finish(live, new_page):
    page = open_pad(live, new_page)
    other = clerk_at(live, "2", "clerk02")
    serve_one(live, other, window="2")
    mine = clerk_at(live, "1", "clerk01")
    first = serve_one(live, mine)
    expect(page.locator("#which")).to_contain_text(first["number"])
    # the clerk does not wait for the visitor: the next finish replaces the one being asked about
    second = serve_one(live, mine)
    expect(page.locator("#which")).to_contain_text(second["number"])
    page.get_by_role("button", name="基本满意").click()
    expect(page.locator("#thanks")).to_be_visible()
    events = rated_events(live.ws_url)
    assert [(e["ticket_id"], e["rating"]) for e in events] == [(second["id"], 3)]
    # and it goes back to idle by itself
    expect(page.locator("#idle")).to_be_visible(timeout=10_000)


def test_a_rating_given_at_finish_does_not_ask_again(live, new_page):
    page = open_pad(live, new_page)
    headers = clerk_at(live, "1", "clerk01")
    httpx.post(live.url + HALL + "/tickets", json={"service": "SB", "channel": "walk_in"}).raise_for_status()
    httpx.post(f"{live.url}{HALL}/windows/1/call-next", headers=headers).raise_for_status()
    httpx.post(f"{live.url}{HALL}/windows/1/start", headers=headers).raise_for_status()
    httpx.post(f"{live.url}{HALL}/windows/1/finish", headers=headers, json={"rating": 4}).raise_for_status()
    serve_one(live, headers)  # a later finish without rating is asked about
    expect(page.locator("#ask")).to_be_visible()
    expect(page.locator("#which")).to_contain_text("A002")
