"""The facility staff's phone page in a real browser: an alarm assigned to fac01 (through the REST
call the duty console makes, as duty01) appears live, is accepted, noted and resolved there; an alarm
assigned to someone else never shows; a clerk is told the page is not theirs."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from hall import alarms
from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot

HALL = "/api/v1/halls/hn-tja"


def raise_alarm(hall, device: str, type_: str, severity: str, **detail: Any) -> str:
    h = hall.server.hall("hn-tja")
    return hall.server.db.write_sync(alarms.raise_alarm, h, h.now(), "device", device, type_, severity, detail)


def headers_of(live, username: str) -> dict[str, str]:
    r = httpx.post(live.url + "/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def assign(live, duty: dict[str, str], alarm_id: str, assignee: str) -> None:
    httpx.post(f"{live.url}{HALL}/alarms/{alarm_id}/assign", json={"assignee": assignee},
               headers=duty).raise_for_status()


def alarm(live, duty: dict[str, str], alarm_id: str) -> dict[str, Any]:
    r = httpx.get(f"{live.url}{HALL}/alarms/{alarm_id}", headers=duty)
    r.raise_for_status()
    return r.json()


def open_as(live, new_page, username: str):
    page = new_page(390, 844, is_mobile=True, has_touch=True)
    page.goto(live.url + "/staff/hn-tja")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-btn").click()
    return page


def test_an_assigned_alarm_arrives_live_and_is_accepted_noted_and_resolved(live, hall, new_page):
    jam = raise_alarm(hall, "locker-01", "door_jam", "critical", slot=3, text="locker-01 3号格口柜门未能打开")
    other = raise_alarm(hall, "kiosk-01", "paper_out", "major", text="kiosk-01 自助取号机缺纸")
    duty = headers_of(live, "duty01")
    assign(live, duty, other, "manager01")   # someone else's: never on fac01's page

    page = open_as(live, new_page, "fac01")
    expect(page.locator("#mine")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-synced", "1")
    expect(page.locator("body")).to_have_attribute("data-conn", "live")
    expect(page.locator("#empty")).to_be_visible()

    # assigned in the console (the same REST call, as duty01): on the page without a reload
    assign(live, duty, jam, "fac01")
    card = page.locator(f'.alarm[data-id="{jam}"]')
    expect(card).to_be_visible()
    expect(card).to_have_class("alarm sev-critical fresh")
    expect(card.locator(".type")).to_have_text("柜门无法打开")
    expect(card.locator(".st")).to_have_text("待接单")
    expect(card.locator(".place")).to_have_text("locker-01 3号格口柜门未能打开")
    expect(card.locator(".device")).to_contain_text("locker-01")
    expect(card.locator(".age")).to_contain_text("刚刚")
    expect(page.locator("#count")).to_have_text("1")

    # accept
    card.get_by_role("button", name="接单").click()
    expect(card).to_have_attribute("data-state", "acked")
    expect(card.locator(".st")).to_have_text("已接单")
    expect(card.get_by_role("button", name="接单")).to_be_hidden()
    assert alarm(live, duty, jam)["state"] == "acked"

    # a note
    card.get_by_role("button", name="备注").click()
    card.locator('[data-form="comment"] textarea').fill("已到现场，正在检修柜门")
    card.get_by_role("button", name="提交备注").click()
    expect(card.locator(".notes li")).to_contain_text("fac01：已到现场，正在检修柜门")
    assert [(c["by"], c["text"]) for c in alarm(live, duty, jam)["comments"]] == [("fac01", "已到现场，正在检修柜门")]

    # a second assignment comes on top, highlighted; the one given to someone else stays away
    paper = raise_alarm(hall, "kiosk-02", "paper_low", "minor", text="kiosk-02 自助取号机纸张将尽")
    assign(live, duty, paper, "fac01")
    assign(live, duty, other, "duty01")
    expect(page.locator(".alarm").first).to_have_attribute("data-id", paper)
    expect(page.locator(".alarm").first).to_contain_text("纸张将尽")
    expect(page.locator("#count")).to_have_text("2")
    expect(page.locator(f'.alarm[data-id="{other}"]')).to_have_count(0)
    page.evaluate("document.getAnimations().forEach((a) => a.finish())")
    screenshot(page, "staff")

    # resolve with a note: closed on the server, gone from the list
    card.get_by_role("button", name="处理完成").click()
    card.locator('[data-form="resolve"] textarea').fill("已更换门锁电机")
    card.get_by_role("button", name="确认处理完成").click()
    expect(card).to_have_count(0)
    expect(page.locator("#count")).to_have_text("1")
    done = alarm(live, duty, jam)
    assert done["state"] == "closed" and done["closed_by"] == "fac01"
    assert any(e["action"] == "alarm.resolve" and e["detail"]["note"] == "已更换门锁电机" for e in done["history"])

    # reassigned away in the console: it leaves with a sentence; a reload keeps the session
    assign(live, duty, paper, "manager01")
    expect(page.locator(f'.alarm[data-id="{paper}"]')).to_have_count(0)
    expect(page.locator("#info")).to_contain_text("已改派给 manager01")
    expect(page.locator("#empty")).to_be_visible()
    page.reload()
    expect(page.locator("#mine")).to_be_visible()
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator(f'.alarm[data-id="{other}"]')).to_have_count(0)


def test_a_clerk_is_told_the_page_is_for_facility_staff(live, new_page):
    page = open_as(live, new_page, "clerk01")
    expect(page.locator("#denied")).to_be_visible()
    expect(page.locator("#denied-text")).to_contain_text("窗口工作人员")
    expect(page.locator("#mine")).to_be_hidden()
    page.get_by_role("button", name="换一个账号登录").click()
    expect(page.locator("#login")).to_be_visible()
