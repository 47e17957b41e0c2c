"""Every page is served, in Chinese, for a known hall; unknown halls and tickets are 404."""

import httpx
import pytest


@pytest.mark.parametrize("path", ["/screen/hall/hn-tja", "/screen/window/hn-tja/1", "/kiosk/hn-tja",
                                  "/clerk/hn-tja", "/rate/hn-tja/1", "/staff/hn-tja"])
def test_pages_are_served(live, path):
    r = httpx.get(live.url + path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "天长市政务服务中心" in r.text


@pytest.mark.parametrize("path", ["/screen/hall/nowhere", "/screen/window/hn-tja/99", "/t/nope"])
def test_unknown_things_are_404(live, path):
    assert httpx.get(live.url + path).status_code == 404


def test_tracking_page_finds_its_hall(live):
    t = httpx.post(live.url + "/api/v1/halls/hn-tja/tickets", json={"service": "SB", "channel": "walk_in"}).json()
    r = httpx.get(t["track_url"])
    assert r.status_code == 200 and "hn-tja" in r.text


def test_chromium_renders_a_page(live, new_page):
    page = new_page()
    page.goto(live.url + "/kiosk/hn-tja")
    assert "天长市政务服务中心" in page.title()


def test_rating_pad_for_an_unknown_window_is_404(live):
    assert httpx.get(live.url + "/rate/hn-tja/99").status_code == 404
