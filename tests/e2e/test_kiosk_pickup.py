"""亮码取件 at the kiosk in a real browser: a code typed on the keypad or shown to the scanner opens
the locker's door (a simulated locker on a real broker), and the kiosk says where; a wrong code
is a sentence with the tries left (#5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from hall.clock import ManualClock
from tests.brokers import Broker
from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot
from tests.iot import API, build_hall, devices, wait_until
from tests.live import LiveServer


@pytest.fixture
def floor(tmp_path: Path, clock: ManualClock, broker: Broker) -> Iterator[tuple[LiveServer, object]]:
    h = build_hall(tmp_path, clock, broker)
    try:
        with LiveServer(h.app) as live, devices(broker, ("locker", "locker-01"), slots=12, auto_close_s=None) as devs:
            yield live, devs["locker-01"]
    finally:
        h.close()


def _headers(live: LiveServer, username: str) -> dict[str, str]:
    r = httpx.post(f"{live.url}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def deposit(live: LiveServer, locker, item: str) -> dict:
    hdr, duty = _headers(live, "clerk01"), _headers(live, "duty01")
    wait_until(lambda: httpx.get(f"{live.url}{API}/devices/locker-01", headers=duty).json()["online"],
               what="locker online")
    r = httpx.post(f"{live.url}{API}/lockers/locker-01/deposits", json={"item": item}, headers=hdr)
    assert r.status_code == 201, r.text
    d = r.json()
    wait_until(lambda: locker.doors[d["slot"]] == "open", what="door open for the deposit")
    locker.close_door(d["slot"], occupied=True)
    wait_until(lambda: next(s for s in httpx.get(f"{live.url}{API}/lockers/locker-01", headers=hdr).json()["slots"]
                            if s["slot"] == d["slot"])["deposit"]["state"] == "stored", what="stored")
    return d


def test_pickup_at_the_kiosk_by_keypad_and_by_scanner(floor, new_page) -> None:
    live, locker = floor
    first = deposit(live, locker, "营业执照")
    page = new_page(1080, 1920)
    page.goto(live.url + "/kiosk/hn-tja?device=kiosk-24h-01")
    expect(page.locator("body")).to_have_attribute("data-synced", "1")

    # a wrong code: a sentence, with the tries left
    page.get_by_role("button", name="亮码取件").click()
    page.locator("#pickup-code").fill("00000000" if first["pickup_code"] != "00000000" else "11111111")
    page.get_by_role("button", name="开柜取件").click()
    expect(page.locator("#error")).to_contain_text("取件码无效，还可尝试9次")

    # the right code on the keypad: the door opens, and the kiosk says which
    page.get_by_role("button", name="亮码取件").click()
    for digit in first["pickup_code"]:
        page.locator("#pickup-keypad button", has_text=digit).first.click()
    page.get_by_role("button", name="开柜取件").click()
    expect(page.locator("#pickup-done")).to_be_visible()
    expect(page.locator("#pickup-where")).to_have_text(f"请到7x24小时自助服务区 智能柜 locker-01 的 {first['slot']} 号格口取件")
    assert locker.doors[first["slot"]] == "open"
    screenshot(page, "kiosk-pickup")
    page.get_by_role("button", name="完成").click()
    expect(page.locator("#pickup-done")).to_be_hidden()
    locker.close_door(first["slot"], occupied=False)

    # shown on a phone and read by the scanner (it types the code and Enter)
    second = deposit(live, locker, "不动产权证书")
    page.keyboard.type(second["pickup_code"])
    page.keyboard.press("Enter")
    expect(page.locator("#pickup-done")).to_be_visible()
    expect(page.locator("#pickup-where")).to_have_text(f"请到7x24小时自助服务区 智能柜 locker-01 的 {second['slot']} 号格口取件")
    assert locker.doors[second["slot"]] == "open"
