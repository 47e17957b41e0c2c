"""The tracking page (/t/{ticket_id}) on a phone-sized Chromium: ahead, estimated wait, the window
once called, live from the stream; no ID number or full name anywhere on it."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

from hall.queue.idcard import make_resident_id
from tests.e2e.conftest import screenshot
from tests.e2e.test_screens import Desk

PHONE = (390, 844)


def test_tracking_page_follows_the_ticket_until_called(live, new_page, clock):
    desk = Desk(live.url)
    desk.sign_in("6", "clerk06")
    for _ in range(3):
        desk.issue("SB")
        clock.advance(30)
    mine = desk.issue("SB")
    assert mine["ahead"] == 3
    page = new_page(*PHONE)
    page.goto(mine["track_url"])
    expect(page.locator("#number")).to_have_text(mine["number"])
    expect(page.locator("#service")).to_have_text("社保")
    expect(page.locator("#status")).to_have_text("等候中")
    expect(page.locator("#ahead")).to_have_text("3 人")
    expect(page.locator("#est")).to_contain_text("分钟")
    expect(page.locator("#called")).to_be_hidden()
    expect(page.locator("#conn")).to_contain_text("实时")
    screenshot(page, "track")

    # Others are called: fewer ahead, live.
    desk.call_next("6")
    expect(page.locator("#ahead")).to_have_text("2 人")
    for _ in range(2):
        desk.act("6", "start")
        desk.call_next("6")
    expect(page.locator("#ahead")).to_have_text("0 人")
    desk.act("6", "start")
    called = desk.call_next("6")
    assert called["id"] == mine["id"]
    expect(page.locator("#called-window")).to_have_text("6号窗口", timeout=1000)
    expect(page.locator("#status")).to_have_text("已叫号，请前往窗口")
    expect(page.locator("#figures")).to_be_hidden()
    page.wait_for_timeout(3200)    # after the flash, for the picture
    screenshot(page, "track-called")

    desk.act("6", "start")
    expect(page.locator("#status")).to_have_text("正在办理")
    desk.act("6", "finish")
    expect(page.locator("#status")).to_contain_text("已办结")
    expect(page.locator("#called")).to_be_hidden()


def test_tracking_page_of_an_id_card_ticket_shows_no_personal_data(live, new_page):
    desk = Desk(live.url)
    id_number = make_resident_id("320102", date(1990, 6, 15), 37)
    t = desk.issue("YB", "id_card", id_number)
    page = new_page(*PHONE)
    page.goto(t["track_url"])
    expect(page.locator("#number")).to_have_text(t["number"])
    expect(page.locator("#ahead")).to_have_text("0 人")
    for text in (page.content(), page.inner_text("body")):
        assert id_number not in text and id_number[6:14] not in text   # nor the birth date in it


def test_unknown_ticket_is_404_page(live):
    import httpx

    assert httpx.get(live.url + "/t/does-not-exist").status_code == 404
