"""An alarm assigned in the duty console appears on the facility staff's phone page and is resolved
there; the console sees it closed (#6). The console runs under Textual's pilot and the page in
Debian's Chromium, both driven from one asyncio loop (Playwright's async API)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import DataTable

from hall import alarms
from hall.clock import ManualClock
from hall.console.app import ConsoleApp
from hall.console.modals import Choose
from tests.conftest import PASSWORD
from tests.console.test_console import on_screen, select, until
from tests.e2e.conftest import ARGS, CHROMIUM
from tests.live import LiveServer


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)")
async def test_assigned_in_the_console_resolved_on_the_phone(sqlite_hall, clock: ManualClock) -> None:
    from playwright.async_api import async_playwright, expect

    hall = sqlite_hall
    h = hall.server.hall("hn-tja")
    jam = hall.server.db.write_sync(alarms.raise_alarm, h, h.now(), "device", "locker-01", "door_jam", "critical",
                                    {"slot": 3, "text": "locker-01 3号格口柜门未能打开"})
    with LiveServer(hall.app) as live:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                ctx = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                                is_mobile=True, has_touch=True)
                page = await ctx.new_page()
                await page.goto(live.url + "/staff/hn-tja")
                await page.locator("#username").fill("fac01")
                await page.locator("#password").fill(PASSWORD)
                await page.locator("#login-btn").click()
                await expect(page.locator("body")).to_have_attribute("data-conn", "live")
                await expect(page.locator("#empty")).to_be_visible()

                app = ConsoleApp(live.url, "duty01", PASSWORD, poll_s=1.0)
                async with app.run_test(size=(120, 36)) as pilot:
                    await asyncio.wait_for(app.ready.wait(), 15)
                    await pilot.press("2")
                    table = app.query_one("#alarm-table", DataTable)
                    table.focus()
                    await until(lambda: table.row_count > 0, what="the alarm in the console")
                    select(table, jam)
                    await pilot.press("s")
                    await on_screen(app, Choose)
                    await pilot.pause(0.2)
                    await pilot.press("enter")  # fac01, the hall's facility staff member
                    # on the phone, live
                    card = page.locator(f'.alarm[data-id="{jam}"]')
                    await expect(card).to_be_visible()
                    await expect(card.locator(".type")).to_have_text("柜门无法打开")
                    await card.get_by_role("button", name="接单").click()
                    await until(lambda: app.state.alarms[jam].get("state") == "acked", what="acked, seen in console")
                    await card.get_by_role("button", name="处理完成").click()
                    await card.locator('[data-form="resolve"] textarea').fill("已修复")
                    await card.get_by_role("button", name="确认处理完成").click()
                    await expect(card).to_have_count(0)
                    closed = await until(lambda: app.state.alarms[jam].get("state") == "closed" and app.state.alarms[jam],
                                         what="closed, seen in the console")
                    assert closed["closed_by"] == "fac01"
            finally:
                await browser.close()
