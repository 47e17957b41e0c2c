"""What a window's LED screen shows, from the hall's events (pure).

The server publishes it on ``hall/{hall}/window/{window}/display`` (QoS 1, retained, CONTRACT.md):
a screen that reconnects gets the current text at once. Window displays are consumers of the
event log, like every other screen.
"""

from __future__ import annotations

from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def display_for(type_: str, envelope: str) -> tuple[str, bytes] | None:
    """(window, payload) for an event that changes a window's display, else None."""
    if type_ not in ("ticket.called", "window.state"):
        return None
    data: dict[str, Any] = _decode(envelope)["data"]
    window = data.get("window")
    if not window:
        return None
    ticket = data.get("ticket")
    name = data.get("window_name") or f"{window}号窗口"
    if type_ == "ticket.called":
        body = {"ticket": ticket, "text": data.get("announcement") or f"请{ticket}号到{name}办理", "state": "calling"}
    else:
        state = data.get("state")
        if state == "calling" and ticket:
            text = f"请{ticket}号到{name}办理"
        elif state == "serving" and ticket:
            text = f"{ticket}号 正在办理"
        elif state == "paused":
            reason = data.get("reason")
            text = f"暂停服务：{reason}" if reason else "暂停服务"
        elif state == "idle":
            text = f"{name} 欢迎办理"
        else:
            text = f"{name} 暂停办理"
        body = {"ticket": ticket if state in ("calling", "serving") else None, "text": text, "state": state}
    return str(window), _encode(body)
