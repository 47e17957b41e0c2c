"""智能柜: each locker's slots (free, holding an item, door open, jammed) and the pickups waiting."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from hall.console.state import HallState

SLOT_STYLE = {"free": "black on green", "item": "white on blue", "open": "black on yellow",
              "jam": "bold white on red", "pending": "white on magenta"}
DEPOSIT_ZH = {"opening": "存件中", "stored": "待取件", "picking": "取件中", "picked_up": "已取走"}


class LockersPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(id="lk-view")

    def show(self, st: HallState) -> None:
        out = Text()
        if not st.lockers:
            out.append("没有智能柜", style="dim")
        for device, lk in sorted(st.lockers.items()):
            jammed = {a.get("detail", {}).get("slot") for a in st.alarms.values()
                      if a.get("device") == device and a.get("type") == "door_jam" and a.get("state") in ("active",
                                                                                                         "acked")}
            online = st.devices.get(device, {}).get("online")
            out.append(f"{device}", style="bold")
            out.append(f"  空闲 {lk.get('free', 0)}/{len(lk.get('slots', []))}  ")
            out.append("在线\n" if online else "离线\n", style="green" if online else "bold red")
            waiting: list[tuple[int, dict[str, Any]]] = []
            for i, s in enumerate(lk.get("slots", [])):
                dep = s.get("deposit")
                if s["slot"] in jammed:
                    kind = "jam"
                elif s.get("door") == "open":
                    kind = "open"
                elif dep and dep.get("state") in ("opening", "picking"):
                    kind = "pending"
                elif s.get("occupied") or dep:
                    kind = "item"
                else:
                    kind = "free"
                out.append(f" {s['slot']:>2} ", style=SLOT_STYLE[kind])
                out.append(" ")
                if (i + 1) % 8 == 0:
                    out.append("\n")
                if dep and dep.get("state") in ("opening", "stored", "picking"):
                    waiting.append((s["slot"], dep))
            out.append("\n")
            for slot, dep in waiting:
                out.append(f"   {slot:>2}号 {DEPOSIT_ZH.get(dep['state'], dep['state'])} 存入 "
                           f"{(dep.get('stored_at') or dep.get('created_at') or '')[5:16]} "
                           f"到期 {(dep.get('expires_at') or '')[5:16]}\n")
            out.append("\n")
        out.append(" 空闲 ", style=SLOT_STYLE["free"])
        out.append("  ")
        out.append(" 有物品 ", style=SLOT_STYLE["item"])
        out.append("  ")
        out.append(" 门开 ", style=SLOT_STYLE["open"])
        out.append("  ")
        out.append(" 进行中 ", style=SLOT_STYLE["pending"])
        out.append("  ")
        out.append(" 门故障 ", style=SLOT_STYLE["jam"])
        self.query_one("#lk-view", Static).update(out)
