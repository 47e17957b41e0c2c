"""The kiosk in a real browser: scan an ID number, pick a service, see the ticket; errors as sentences."""

from __future__ import annotations

from datetime import date, datetime

import httpx
from playwright.sync_api import expect

from hall.queue.idcard import make_resident_id
from tests.conftest import TZ
from tests.e2e.conftest import screenshot

HALL = "/api/v1/halls/hn-tja"
ID_NUMBER = make_resident_id("341181", date(1980, 5, 1), 12)


def open_kiosk(live, new_page, width: int = 1080, height: int = 1920):
    page = new_page(width, height)
    page.goto(live.url + "/kiosk/hn-tja")
    expect(page.locator("body")).to_have_attribute("data-synced", "1")  # the stream's snapshot is in
    expect(page.locator('.svc[data-service="SB"]')).to_be_visible()
    return page


def scan(page, text: str) -> None:
    """A scanner types like a keyboard and ends with Enter, into whatever has the focus."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_scanned_id_card_takes_a_ticket_and_the_number_is_not_kept(live, new_page):
    page = open_kiosk(live, new_page)
    scan(page, ID_NUMBER)
    expect(page.locator("#guide")).to_contain_text("已读取身份证")
    page.locator('.svc[data-service="SB"]').click()

    expect(page.locator("#t-number")).to_have_text("A001")
    expect(page.locator("#t-service")).to_have_text("社保")
    expect(page.locator("#t-ahead")).to_have_text("0 人")
    expect(page.locator("#t-url")).to_contain_text("/t/")
    qr = page.locator("#t-qr").get_attribute("src")
    assert qr and qr.startswith("/api/v1/halls/hn-tja/tickets/") and qr.endswith("/qr.svg")
    assert ID_NUMBER not in page.content()
    assert page.locator("#scan").input_value() == ""
    screenshot(page, "kiosk-ticket")

    # the same person again for the same service: the 409 as a plain sentence. First let the slip
    # finish loading: a scan leaves the ticket screen and unloads the slip's frame, and Playwright's
    # driver has crashed on a key press while that PDF frame was being torn down.
    expect(page.locator("body")).to_have_attribute("data-printed", "1", timeout=10_000)
    scan(page, ID_NUMBER)
    expect(page.locator("#start")).to_be_visible()
    page.locator('.svc[data-service="SB"]').click()
    expect(page.locator("#error")).to_contain_text("您已有「社保」的排队号，请勿重复取号")
    assert ID_NUMBER not in page.content()
    assert ID_NUMBER not in page.evaluate("document.body.innerText")
    # nothing new was issued
    assert httpx.get(live.url + HALL + "/services").json()[0]["waiting"] == 1


def test_walk_in_ticket_and_ahead(live, new_page):
    for _ in range(2):
        httpx.post(live.url + HALL + "/tickets", json={"service": "YB", "channel": "walk_in"}).raise_for_status()
    page = open_kiosk(live, new_page, 1280, 1024)
    expect(page.locator('.svc[data-service="YB"] .waiting')).to_have_text("2")
    page.locator('.svc[data-service="YB"]').click()
    expect(page.locator("#t-number")).to_have_text("B003")
    expect(page.locator("#t-ahead")).to_have_text("2 人")
    # the waiting count follows the stream
    page.locator("#finish").click()
    expect(page.locator('.svc[data-service="YB"] .waiting')).to_have_text("3")


def test_double_tap_makes_one_ticket(live, new_page):
    page = open_kiosk(live, new_page, 1280, 1024)
    page.locator('.svc[data-service="GJJ"]').dblclick()
    expect(page.locator("#t-number")).to_have_text("C001")
    services = {s["code"]: s for s in httpx.get(live.url + HALL + "/services").json()}
    assert services["GJJ"]["waiting"] == 1


def test_large_text_mode_makes_the_number_bigger(live, new_page):
    page = open_kiosk(live, new_page, 1280, 1024)
    page.locator('.svc[data-service="HJ"]').click()
    number = page.locator("#t-number")
    expect(number).to_have_text("F001")

    def size() -> float:
        return float(number.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))

    normal = size()
    page.locator("#large").click()
    expect(page.locator("#large")).to_have_attribute("aria-pressed", "true")
    assert size() > normal * 1.2


def test_start_screen_shows_waits_and_closed_services(live, new_page, clock):
    for svc, n in (("SB", 6), ("BDC", 3), ("SW", 2)):
        for _ in range(n):
            httpx.post(live.url + HALL + "/tickets", json={"service": svc, "channel": "walk_in"}).raise_for_status()
    page = open_kiosk(live, new_page)
    expect(page.locator('.svc[data-service="SB"] .waiting')).to_have_text("6")
    expect(page.locator('.svc[data-service="SB"] .est')).not_to_have_text("—")
    screenshot(page, "kiosk")

    # Saturday: only 户籍 is open; the others say so, with their hours
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=TZ))
    page.reload()
    expect(page.locator('.svc[data-service="SB"]')).to_have_class("svc closed")
    expect(page.locator('.svc[data-service="SB"]')).to_contain_text("办理时间")
    expect(page.locator('.svc[data-service="HJ"]')).not_to_have_class("svc closed")
    page.locator('.svc[data-service="SB"]').click(force=True)  # aria-disabled, yet a tap explains why
    expect(page.locator("#error")).to_contain_text("现在不办理")


def test_unknown_scan_and_bad_appointment_code_are_sentences(live, new_page):
    page = open_kiosk(live, new_page, 1280, 1024)
    scan(page, "hello")
    expect(page.locator("#error")).to_contain_text("未能识别")
    page.locator("#appointment").click()
    page.locator("#keypad button", has_text="A").click()
    page.locator("#keypad button", has_text="1").first.click()
    page.locator("#appt-ok").click()
    expect(page.locator("#guide")).to_contain_text("预约码已输入")
    page.locator('.svc[data-service="SB"]').click()
    expect(page.locator("#error")).to_be_visible()
    text = page.locator("#error").inner_text()
    assert text and "/" not in text and "{" not in text
