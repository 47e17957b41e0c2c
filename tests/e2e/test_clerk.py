"""The clerk terminal in a real browser: log in, sign in to a window, call with a key, serve, pause."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot

HALL = "/api/v1/halls/hn-tja"


def issue(live, service: str = "SB") -> dict:
    r = httpx.post(live.url + HALL + "/tickets", json={"service": service, "channel": "walk_in"})
    r.raise_for_status()
    return r.json()


def open_desk(live, new_page, window: str = "1"):
    page = new_page(1366, 768)
    page.goto(live.url + "/clerk/hn-tja")
    page.locator("#username").fill("clerk01")
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-btn").click()
    page.locator(f'.win[data-window="{window}"]').click()
    expect(page.locator("#desk")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    expect(page.locator("body")).to_have_attribute("data-synced", "1")
    return page


def test_call_with_the_keyboard_then_start_and_finish(live, new_page):
    for svc in ("SB", "SB", "YB", "BDC"):
        issue(live, svc)
    page = open_desk(live, new_page)
    expect(page.locator("#who")).to_contain_text("1号窗口")
    expect(page.locator("#who")).to_contain_text("工作人员01")
    expect(page.locator('#queue tr[data-service="SB"] td.n')).to_have_text("2")
    expect(page.locator("#queue-total")).to_have_text("4")

    page.keyboard.press("F1")
    expect(page.locator("#cur-number")).to_have_text("A001")
    expect(page.locator("body")).to_have_attribute("data-state", "calling")
    expect(page.locator("#cur-channel")).to_have_text("现场取号")
    expect(page.locator("#cur-priority")).to_have_text("普通")
    expect(page.locator('#queue tr[data-service="SB"] td.n')).to_have_text("1")
    screenshot(page, "clerk")

    page.get_by_role("button", name="开始办理").click()
    expect(page.locator("body")).to_have_attribute("data-state", "serving")
    expect(page.locator("#state")).to_have_text("办理中")
    page.get_by_role("button", name="办结").click()
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    expect(page.locator("#cur-number")).to_have_text("无")
    t = httpx.get(live.url + HALL + "/windows").json()[0]
    assert t["state"] == "idle" and t["current_ticket"] is None

    # space calls the next one too; nobody left for a service shows a sentence, not a crash
    page.keyboard.press(" ")
    expect(page.locator("#cur-number")).to_have_text("A002")


def test_pause_asks_for_a_reason_and_resume(live, new_page):
    page = open_desk(live, new_page)
    page.keyboard.press("p")
    expect(page.locator("#pause-dialog")).to_be_visible()
    page.locator("#pause-ok").click()  # no reason: refused on the page
    expect(page.locator("#error")).to_contain_text("请填写暂停原因")
    page.locator("#reasons button", has_text="临时离开").click()
    page.locator("#pause-ok").click()
    expect(page.locator("body")).to_have_attribute("data-state", "paused")
    expect(page.locator("#state")).to_have_text("暂停服务：临时离开")
    w = httpx.get(live.url + HALL + "/windows").json()[0]
    assert w["state"] == "paused" and w["pause_reason"] == "临时离开"
    # call-next is greyed out while paused; U resumes
    expect(page.locator('[data-action="call-next"]')).to_be_disabled()
    page.keyboard.press("u")
    expect(page.locator("body")).to_have_attribute("data-state", "idle")


def test_empty_queue_recall_no_show_and_transfer(live, new_page):
    page = open_desk(live, new_page)
    page.get_by_role("button", name="叫下一位").click()
    expect(page.locator("#info")).to_contain_text("当前没有等候的号")

    issue(live, "SB")
    issue(live, "YB")
    page.keyboard.press("F1")
    expect(page.locator("#cur-number")).to_have_text("A001")
    page.keyboard.press("r")
    expect(page.locator("#info")).to_be_hidden()
    page.keyboard.press("n")
    expect(page.locator("body")).to_have_attribute("data-state", "idle")

    page.keyboard.press("F1")
    expect(page.locator("#cur-number")).to_have_text("B001")
    page.keyboard.press("s")
    expect(page.locator("body")).to_have_attribute("data-state", "serving")
    page.keyboard.press("t")
    page.locator('#transfer-services [data-service="GJJ"]').click()
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    expect(page.locator('#queue tr[data-service="GJJ"] td.n')).to_have_text("1")


def test_wrong_password_and_taken_window_are_sentences(live, new_page):
    login = httpx.post(live.url + "/api/v1/auth/login", json={"username": "clerk02", "password": PASSWORD}).json()
    httpx.post(live.url + HALL + "/windows/1/sign-in",
               headers={"Authorization": f"Bearer {login['token']}"}).raise_for_status()
    page = new_page(1366, 768)
    page.goto(live.url + "/clerk/hn-tja")
    page.locator("#username").fill("clerk01")
    page.locator("#password").fill("wrong")
    page.locator("#login-btn").click()
    expect(page.locator("#error")).to_be_visible()
    assert "{" not in page.locator("#error").inner_text()
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-btn").click()
    page.locator('.win[data-window="1"]').click()
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#desk")).to_be_hidden()
    # the session survives a reload (token in sessionStorage)
    page.locator('.win[data-window="3"]').click()
    expect(page.locator("#desk")).to_be_visible()
    page.reload()
    expect(page.locator("#desk")).to_be_visible()
    expect(page.locator("#who")).to_contain_text("3号窗口")
