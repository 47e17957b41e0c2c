"""Window states and the actions allowed in each (CONTRACT.md, "Window states"). Pure."""

from __future__ import annotations

from typing import Any

from hall.errors import Conflict

STATE_ZH = {"closed": "未开放", "idle": "空闲", "calling": "叫号中", "serving": "服务中", "paused": "暂停服务"}
ACTION_ZH = {
    "sign_in": "签到", "sign_out": "签退", "call": "叫号", "recall": "重呼", "no_show": "过号",
    "start": "开始办理", "finish": "办结", "transfer": "转办", "pause": "暂停", "resume": "恢复",
}

# action -> {from state: to state}
TRANSITIONS: dict[str, dict[str, str]] = {
    "sign_in": {"closed": "idle"},
    "sign_out": {"idle": "closed", "paused": "closed"},
    "call": {"idle": "calling", "serving": "calling"},  # from serving: finish without rating, then call
    "recall": {"calling": "calling"},
    "no_show": {"calling": "idle"},
    "start": {"calling": "serving"},
    "finish": {"serving": "idle"},
    "transfer": {"serving": "idle"},
    "pause": {"idle": "paused"},
    "resume": {"paused": "idle"},
}


class WrongWindowState(Conflict):
    code = "window_state"


def next_state(action: str, state: str) -> str:
    """The state after ``action``, or WrongWindowState (409) when the window is not in a state for it."""
    try:
        return TRANSITIONS[action][state]
    except KeyError:
        raise WrongWindowState(
            f"窗口当前为「{STATE_ZH.get(state, state)}」，不能{ACTION_ZH.get(action, action)}",
            f"the window is {state}; {action.replace('_', '-')} is not possible now",
            extra={"state": state},
        ) from None


def services_of(wcfg: Any, row: Any) -> set[str]:
    """What a window calls for: a tidal window opened by the policy serves the services it took."""
    if wcfg.kind == "tidal" and row is not None and row.tidal_open and row.tidal_services:
        return set(row.tidal_services.split(","))
    return set(wcfg.services)
