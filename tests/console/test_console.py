"""The duty console driven with Textual's pilot against a real server, broker and simulated devices (#6)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from textual.widgets import DataTable

from hall.clock import ManualClock
from hall.console.app import ConsoleApp
from hall.console.modals import AskText, Choose, Confirm
from hall.console.panes.alarms import AlarmsPane
from hall.console.panes.devices import DevicesPane
from hall.console.panes.events import EventsPane
from tests.brokers import Broker
from tests.conftest import PASSWORD
from tests.iot import API, build_hall, devices, fast_config
from tests.live import LiveServer

DOCS = Path(__file__).resolve().parents[2] / "docs"



async def until(fn, timeout: float = 30.0, what: Any = "condition"):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.05)


async def on_screen(app, screen_type) -> None:  # noqa: ANN001
    """Wait until a dialog is up (under load a key pressed before it would go to the pane below)."""
    await until(lambda: isinstance(app.screen, screen_type), what=f"the {screen_type.__name__} dialog")


def server_alarm(base: str, alarm_id: str) -> dict:
    with httpx.Client(base_url=base) as c:
        tok = c.post("/api/v1/auth/login", json={"username": "duty01", "password": PASSWORD}).json()["token"]
        return c.get(f"{API}/alarms/{alarm_id}", headers={"Authorization": f"Bearer {tok}"}).json()


def select(table: DataTable, key: str) -> None:
    for i in range(table.row_count):
        if table.coordinate_to_cell_key((i, 0)).row_key.value == key:  # type: ignore[arg-type]
            table.move_cursor(row=i)
            return
    raise AssertionError(f"no row {key}")


async def test_jammed_locker_alarm_ack_assign_and_an_open_door_confirmed(tmp_path: Path, clock: ManualClock,
                                                                        broker: Broker) -> None:
    # The console and its server, broker and devices share one busy process here: a device silent for
    # 2 s (the fast bounds) under CI load would go offline and refuse the command. This test is about
    # the console, so the locker may be silent for 15 s and a command waits 30 s for its ack.
    h = build_hall(tmp_path, clock, broker, fast_config(offline_after_missed=15, command_timeout_s=30))
    try:
        with LiveServer(h.app) as live, devices(broker, ("locker", "locker-01"), slots=12, auto_close_s=None) as devs:
            locker = devs["locker-01"]
            locker.stuck_door(3, times=None)
            app = ConsoleApp(live.url, "duty01", PASSWORD, output_dir=tmp_path, poll_s=1.0)
            async with app.run_test(size=(120, 36)) as pilot:
                await asyncio.wait_for(app.ready.wait(), 15)
                await until(lambda: app.state.devices.get("locker-01", {}).get("online"), what="locker online")
                # devices pane: open slot 3 (stuck), confirm
                await pilot.press("3")
                dev_table = app.query_one("#device-table", DataTable)
                dev_table.focus()
                await pilot.pause()
                select(dev_table, "locker-01")
                await pilot.press("o")
                await on_screen(app, AskText)
                await pilot.press("3", "enter")
                await on_screen(app, Confirm)
                await pilot.press("y")
                # the jam alarm appears (door_confirm_s is 2 s)
                jam = await until(lambda: next((a for a in app.state.alarms.values()
                                                if a.get("type") == "door_jam" and a.get("state") == "active"), None),
                                  what="door_jam alarm in the console")
                assert jam["severity"] == "critical"
                # alarms pane: the row is there; acknowledge it and assign it
                await pilot.press("2")
                table = app.query_one("#alarm-table", DataTable)
                table.focus()
                await pilot.pause()
                await until(lambda: table.row_count > 0, what="alarm rows")
                select(table, jam["id"])
                await pilot.press("a")
                await until(lambda: server_alarm(live.url, jam["id"])["state"] == "acked", what="acked on the server")
                await pilot.press("s")
                await on_screen(app, Choose)
                await pilot.pause(0.2)
                await pilot.press("enter")  # the first facility account: fac01
                await until(lambda: server_alarm(live.url, jam["id"])["assignee"] == "fac01",
                            what="assigned on the server")
                await until(lambda: app.state.alarms[jam["id"]].get("assignee") == "fac01", what="shown assigned")
                app.save_screenshot(filename="console-alarms.svg", path=str(DOCS))
                # an open-door command that works shows its confirmation
                await until(lambda: app.state.devices.get("locker-01", {}).get("online"), what="locker online")
                await pilot.press("3")
                dev_table.focus()
                select(dev_table, "locker-01")
                await pilot.press("o")
                await on_screen(app, AskText)
                await pilot.press("4", "enter")
                await on_screen(app, Confirm)
                await pilot.press("y")
                await until(lambda: any(c.get("name") == "open_door" and c.get("args") == {"slot": 4}
                                        and c.get("state") == "done" for c in app.state.commands.values()),
                            what=lambda: f"command done; the console has {list(app.state.commands.values())}, "
                                         f"notified {[n.message for n in app._notifications]}")
                assert locker.doors[4] == "open"
                await pilot.pause(0.3)
                shown = str(app.query_one("#dev-commands").render())
                assert "已完成" in shown
                app.save_screenshot(filename="console-devices.svg", path=str(DOCS))
    finally:
        h.close()


async def test_resumes_after_a_server_restart_without_duplicate_or_missing_rows(tmp_path: Path, clock: ManualClock,
                                                                               broker: Broker) -> None:
    h = build_hall(tmp_path, clock, broker)
    live = LiveServer(h.app).__enter__()
    port = live.port
    app = ConsoleApp(live.url, "duty01", PASSWORD, output_dir=tmp_path, poll_s=1.0)
    h2 = None
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 15)
            with httpx.Client(base_url=live.url) as c:
                for _ in range(3):
                    assert c.post(f"{API}/tickets", json={"service": "SB", "channel": "walk_in"}).status_code == 201
            await until(lambda: app.state.seq >= 3, what="events seen")
            live.__exit__(None, None, None)
            h.close()
            await until(lambda: app.stream_status == "down", what="connection lost shown")
            h2 = build_hall(tmp_path, clock, broker, fresh=False)
            live = LiveServer(h2.app, port=port).__enter__()
            with httpx.Client(base_url=live.url) as c:
                for _ in range(2):
                    assert c.post(f"{API}/tickets", json={"service": "GJJ", "channel": "walk_in"}).status_code == 201
                await until(lambda: app.stream_status == "live", timeout=20, what="reconnected")
                last = c.get(f"{API}/tickets", params={"status": "waiting"}).status_code  # noqa: F841
            server_seqs = await asyncio.to_thread(_all_seqs, live.ws_url)
            await until(lambda: app.state.seq >= max(server_seqs), what="caught up")
            await pilot.press("5")
            await pilot.pause(0.3)
            shown = app.query_one(EventsPane).rows()
            assert len(shown) == len(set(shown)), "duplicate rows"
            assert sorted(int(s) for s in shown) == sorted(server_seqs), "missing or extra rows"
            app.save_screenshot(filename="console-events.svg", path=str(DOCS))
    finally:
        live.__exit__(None, None, None)
        (h2 or h).close()
        h.close()


def _all_seqs(ws_url: str) -> list[int]:
    from websockets.sync.client import connect

    with connect(f"{ws_url}/ws/halls/hn-tja") as ws:
        last = json.loads(ws.recv())["seq"]
    seqs = []
    with connect(f"{ws_url}/ws/halls/hn-tja?since=0") as ws:
        while not seqs or seqs[-1] < last:
            seqs.append(json.loads(ws.recv())["seq"])
    return seqs


async def test_screenshots_at_80x24_and_full_screen(tmp_path: Path, clock: ManualClock, broker: Broker) -> None:
    h = build_hall(tmp_path, clock, broker)
    try:
        with LiveServer(h.app) as live, devices(broker, ("kiosk", "kiosk-01"), ("env_sensor", "env-01"),
                                                ("locker", "locker-01"), slots=12, auto_close_s=None):
            app = ConsoleApp(live.url, "duty01", PASSWORD, output_dir=tmp_path, poll_s=1.0)
            async with app.run_test(size=(80, 24)) as pilot:
                await asyncio.wait_for(app.ready.wait(), 15)
                await until(lambda: sum(1 for d in app.state.devices.values() if d.get("online")) >= 3,
                            what="devices online")
                await pilot.pause(1.2)
                app.save_screenshot(filename="console-80x24.svg", path=str(DOCS))
                for key in "246":
                    await pilot.press(key)
                    await pilot.pause(0.5)
                assert app.query_one(AlarmsPane) and app.query_one(DevicesPane)
            app2 = ConsoleApp(live.url, "duty01", PASSWORD, output_dir=tmp_path, poll_s=1.0)
            async with app2.run_test(size=(160, 48)) as pilot:
                await asyncio.wait_for(app2.ready.wait(), 15)
                await pilot.pause(1.2)
                app2.save_screenshot(filename="console-overview.svg", path=str(DOCS))
                await pilot.press("4")
                await pilot.pause(0.5)
                app2.save_screenshot(filename="console-lockers.svg", path=str(DOCS))
    finally:
        h.close()


async def test_shift_notes_summary_and_handover_pdf(tmp_path: Path, clock: ManualClock, broker: Broker) -> None:
    from hall import alarms

    h = build_hall(tmp_path, clock, broker)
    rt = h.server.hall("hn-tja")
    h.server.db.write_sync(alarms.raise_alarm, rt, rt.now(), "device", "kiosk-01", "paper_out", "major",
                           {"text": "kiosk-01 缺纸"})
    h.server.db.write_sync(alarms.raise_alarm, rt, rt.now(), "device", "env-01", "temperature", "minor",
                           {"text": "env-01 温度超限"})
    try:
        with LiveServer(h.app) as live:
            app = ConsoleApp(live.url, "duty01", PASSWORD, output_dir=tmp_path, poll_s=1.0)
            async with app.run_test(size=(100, 30)) as pilot:
                await asyncio.wait_for(app.ready.wait(), 15)
                # alarm filters: severity narrows the table
                await pilot.press("2")
                table = app.query_one("#alarm-table", DataTable)
                table.focus()
                await until(lambda: table.row_count == 2, what="two alarms")
                await pilot.press("v")  # 紧急 only
                await pilot.pause(0.2)
                assert table.row_count == 0
                await pilot.press("v")  # 重要
                await pilot.pause(0.2)
                assert table.row_count == 1
                # the shift pane: summary, a note, the PDF
                await pilot.press("6")
                shift = app.query_one("ShiftPane")
                await until(lambda: shift.summary is not None, what="summary loaded")
                assert shift.summary["alarms"]["raised"] == 2
                shift.focus()
                await pilot.press("n")
                await on_screen(app, AskText)
                await pilot.press(*"kiosk-01 缺纸待补充")
                await pilot.press("enter")
                await until(lambda: any(n.get("text") == "kiosk-01 缺纸待补充" for n in app.state.notes),
                            what="note shown")
                await pilot.press("p")
                saved = await until(lambda: shift.saved, what="PDF saved")
                assert saved.read_bytes().startswith(b"%PDF") and saved.parent == tmp_path
                app.save_screenshot(filename="console-shift.svg", path=str(DOCS))
    finally:
        h.close()
