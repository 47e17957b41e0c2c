"""AB posts and tidal windows on the pages (#4), in headless Chromium against the real server.

The staffing controller's pass is run by the test (``HallServer.staffing_tick``), as the server's
housekeeping loop does every minute.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import DOCS, screenshot
from tests.e2e.test_screens import (
    SECOND,
    Desk,
    announcer,
    open_hall_screen,
    open_window_screen,
    wait_announced,
)

ANNOUNCEMENT = "7号窗口临时开放：不动产登记"


def test_hall_screen_shows_and_queues_the_tidal_announcement(live, new_page, hall):
    desk = Desk(live.url)
    screen = open_hall_screen(new_page, live, "?speak_ms=60000&repeat=1")
    tidal_window = open_window_screen(new_page, live, "7")
    expect(tidal_window.locator("#state")).to_have_text("未开放")
    desk.sign_in("1", "clerk01")
    desk.issue("SB")
    desk.call_next("1")
    screen.wait_for_function("() => window.hallAnnouncer.current === '请A001号到1号窗口办理'")

    for _ in range(11):
        desk.issue("BDC")
    opened = [d for d in hall.server.staffing_tick("hn-tja") if d["kind"] == "tidal"]
    assert [(d["action"], d["window"], d["announcement"]) for d in opened] == [("open", "7", ANNOUNCEMENT)]

    expect(screen.locator("#tidal")).to_be_visible(timeout=SECOND)
    expect(screen.locator("#tidal")).to_contain_text(ANNOUNCEMENT)
    wait_announced(screen, ANNOUNCEMENT)
    a = announcer(screen)
    assert a["current"] == "请A001号到1号窗口办理", a      # the call-out being spoken is not cut off ...
    assert a["queue"] == [ANNOUNCEMENT], a                  # ... the opening waits its turn in the same queue
    expect(tidal_window.locator("#state")).to_have_text("窗口临时开放")
    expect(tidal_window.locator("#window-services")).to_contain_text("临时开放 · 办理业务：不动产登记")
    expect(screen.locator("#current-number")).to_have_text("A001")
    screen.screenshot(path=str(DOCS / "hall-screen-tidal.png"), animations="disabled")  # not mid-flash

    # A screen that starts now shows the open window from the snapshot, without speaking it again.
    late = open_hall_screen(new_page, live)
    expect(late.locator("#tidal")).to_contain_text(ANNOUNCEMENT)
    assert ANNOUNCEMENT not in announcer(late)["queue"] + announcer(late)["spoken"]


def login_desk(live, new_page, user: str):
    page = new_page(1366, 768)
    page.goto(live.url + "/clerk/hn-tja")
    page.locator("#username").fill(user)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-btn").click()
    expect(page.locator("#pick")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-conn", "live")
    return page


def test_a_steps_away_and_b_is_told_on_the_clerk_page_and_covers_the_window(live, new_page):
    desk = Desk(live.url)
    desk.issue("SB")
    b = login_desk(live, new_page, "clerk12")           # B of window 1, on standby
    a = login_desk(live, new_page, "clerk01")
    a.locator('.win[data-window="1"]').click()
    expect(a.locator("body")).to_have_attribute("data-state", "idle")
    a.keyboard.press("F1")
    expect(a.locator("body")).to_have_attribute("data-state", "calling")
    a.keyboard.press("s")
    expect(a.locator("body")).to_have_attribute("data-state", "serving")
    window = open_window_screen(new_page, live, "1")
    expect(window.locator("#number")).to_have_text("A001")

    a.keyboard.press("a")                                 # 离岗 asks for a reason
    expect(a.locator("#away-dialog")).to_be_visible()
    a.locator("#away-ok").click()
    expect(a.locator("#error")).to_contain_text("请填写离岗原因")
    a.locator("#away-reasons button", has_text="业务请示").click()
    a.locator("#away-ok").click()
    expect(a.locator("#pick")).to_be_visible()
    expect(a.locator("#info")).to_contain_text("已离岗（业务请示）")
    expect(a.locator('.win[data-window="1"] .take')).to_have_text("回岗")
    expect(window.locator("#state")).to_have_text("暂离")
    expect(window.locator("#number")).to_have_text("A001")   # the visitor is still served here

    notice = b.locator("#calls .call")
    expect(notice.locator(".text")).to_have_text("1号窗口A岗离岗，请接岗", timeout=SECOND)
    expect(notice.locator("button")).to_contain_text("立即接岗")
    expect(b.locator('.win[data-window="1"] .take')).to_have_text("接岗")
    screenshot(b, "clerk-cover")
    b.keyboard.press("c")
    expect(b.locator("#desk")).to_be_visible()
    expect(b.locator("#calls")).to_be_hidden()
    expect(b.locator("#who")).to_contain_text("1号窗口 · 工作人员12（S012） · B岗代岗")
    expect(b.locator("body")).to_have_attribute("data-state", "serving")
    expect(b.locator("#cur-number")).to_have_text("A001")
    expect(window.locator("#duty")).to_have_text("由B岗代岗")
    expect(window.locator("#clerk-name")).to_have_text("工作人员12")
    b.get_by_role("button", name="办结").click()
    expect(b.locator("body")).to_have_attribute("data-state", "idle")

    a.locator('.win[data-window="1"]').click()            # A comes back and takes the window again
    expect(a.locator("#desk")).to_be_visible()
    expect(a.locator("#who")).not_to_contain_text("B岗代岗")
    expect(b.locator("#pick")).to_be_visible()
    expect(b.locator("#info")).to_contain_text("1号窗口A岗已回岗，窗口已交还")
    expect(window.locator("#duty")).to_be_hidden()
