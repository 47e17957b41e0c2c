"""Window use cases outside calling: sign in and out, pause and resume, and the windows view."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from hall.db.database import Tx
from hall.db.models import staff_t, ticket_t
from hall.errors import BadRequest, Conflict
from hall.queue import repo
from hall.queue.calling import load_window
from hall.runtime import Actor, HallRuntime, ms
from hall.windows import staffing
from hall.windows.events import window_event
from hall.windows.states import next_state, services_of


def sign_in(tx: Tx, h: HallRuntime, number: str, actor: Actor) -> dict[str, Any]:
    wcfg, row = load_window(tx, h, number, None)
    if row.state != "closed":
        if row.clerk == actor.username:
            return window_view(tx.conn, h, number)  # a repeated sign-in by the same clerk is fine
        if row.clerk is None:  # stepped away: the window keeps its state and ticket for A or B
            raise Conflict(f"{wcfg.name}工作人员暂离，请由A岗或B岗接岗", "the clerk stepped away; A or B takes "
                           "the window back with cover", code="window_away", extra={"state": row.state})
        raise Conflict(f"{wcfg.name}已有工作人员签到", "another clerk is signed in to this window",
                       code="window_taken")
    elsewhere = [w for w in repo.window_rows(tx.conn, h.id) if w.clerk == actor.username and w.state != "closed"]
    if elsewhere:
        raise Conflict(f"您已在{elsewhere[0].window}号窗口签到，请先签退", "you are signed in at another window",
                       code="signed_in_elsewhere", extra={"window": elsewhere[0].window})
    now = h.now()
    state = next_state("sign_in", row.state)
    repo.set_window(tx.conn, h.id, number, state=state, clerk=actor.username, ticket_id=None, pause_reason=None,
                    priority_streak=0, updated_ms=ms(now))
    staffing.attended(tx, h, now, number, row)
    h.forget("open_windows")
    post = staffing.posts_of(tx.conn, h).get(number)
    covering = post is not None and actor.username == post.b
    if covering:
        tx.emit(h.id, "post.covered", now, {"window": number, "window_name": wcfg.name, "by": actor.username,
                                            "role": "b", "relieved": None})
    window_event(tx, h, wcfg.number, state, now, clerk=actor.display_name or actor.username, covering=covering)
    return window_view(tx.conn, h, number)


def _simple(tx: Tx, h: HallRuntime, number: str, actor: Actor, action: str, **values: Any) -> dict[str, Any]:
    wcfg, row = load_window(tx, h, number, actor)
    state = next_state(action, row.state)
    now = h.now()
    repo.set_window(tx.conn, h.id, number, state=state, updated_ms=ms(now), **values)
    h.forget("open_windows")
    extra = {"reason": values["pause_reason"]} if values.get("pause_reason") else {}
    window_event(tx, h, wcfg.number, state, now, **extra)
    return window_view(tx.conn, h, number)


def sign_out(tx: Tx, h: HallRuntime, number: str, actor: Actor) -> dict[str, Any]:
    clerk = repo.get_window(tx.conn, h.id, number).clerk if h.cfg.window(number) else None
    view = _simple(tx, h, number, actor, "sign_out", clerk=None, pause_reason=None)
    if clerk:
        staffing.after_leaving(tx, h, number, clerk, h.now())
        view = window_view(tx.conn, h, number)
    return view


def pause(tx: Tx, h: HallRuntime, number: str, actor: Actor, reason: str) -> dict[str, Any]:
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("暂停需要填写原因", "a pause needs a reason", code="reason_required")
    return _simple(tx, h, number, actor, "pause", pause_reason=reason[:200])


def resume(tx: Tx, h: HallRuntime, number: str, actor: Actor) -> dict[str, Any]:
    return _simple(tx, h, number, actor, "resume", pause_reason=None)


def window_views(conn: Connection, h: HallRuntime) -> list[dict[str, Any]]:
    rows = {r.window: r for r in repo.window_rows(conn, h.id)}
    current_ids = [r.ticket_id for r in rows.values() if r.ticket_id]
    tickets = {}
    if current_ids:
        q = select(ticket_t.c.id, ticket_t.c.number, ticket_t.c.service, ticket_t.c.status).where(
            ticket_t.c.hall_id == h.id, ticket_t.c.id.in_(current_ids)
        )
        tickets = {t.id: t for t in conn.execute(q)}
    posts = staffing.posts_of(conn, h)
    clerks = {r.clerk for r in rows.values() if r.clerk}
    names = {}
    if clerks:
        q = select(staff_t.c.username, staff_t.c.display_name, staff_t.c.staff_no).where(
            staff_t.c.username.in_(clerks)
        )
        names = {s.username: s for s in conn.execute(q)}
    out = []
    for w in h.cfg.windows:
        r = rows.get(w.number)
        t = tickets.get(r.ticket_id) if r is not None and r.ticket_id else None
        clerk = r.clerk if r is not None else None
        staff = names.get(clerk) if clerk else None
        post = posts.get(w.number)
        post_a = post.a if post else None
        post_b = post.b if post else None
        tidal_open = bool(r is not None and r.tidal_open)
        out.append({
            "window": w.number, "name": w.name, "kind": w.kind, "state": r.state if r is not None else "closed",
            "services": list(w.services),
            "post": {
                "a": post_a, "b": post_b, "on_duty": clerk,
                "covering": clerk is not None and post is not None and clerk != post_a
                and (clerk == post_b or w.kind != "tidal"),
                "away_reason": r.away_reason if r is not None else None,
                "unattended_since": h.iso(r.left_ms) if r is not None and r.left_ms and not clerk else None,
                "vacant": bool(r is not None and r.vacant), "cover_asked": r.cover_asked if r is not None else None,
            },
            "clerk": {"name": staff.display_name or clerk, "staff_no": staff.staff_no} if staff else None,
            "tidal": w.kind == "tidal",
            "tidal_state": {
                "open": tidal_open, "closing": bool(r.tidal_closing), "since": h.iso(r.tidal_since_ms),
                "services": r.tidal_services.split(",") if tidal_open and r.tidal_services else [],
                "clerk": r.tidal_clerk, "held": r.held, "held_until": h.iso(r.held_until_ms),
            } if w.kind == "tidal" and r is not None else None,
            "serving": sorted(services_of(w, r)) if r is not None else list(w.services),
            "pause_reason": r.pause_reason if r is not None else None,
            "current_ticket": {"id": t.id, "number": t.number, "service": t.service, "status": t.status} if t else None,
        })
    return out


def window_view(conn: Connection, h: HallRuntime, number: str) -> dict[str, Any]:
    return next(v for v in window_views(conn, h) if v["window"] == number)
