"""Windows that staff themselves: AB posts, tidal windows and wait alerts (the imperative shell).

The decisions are pure (``posts.py``, ``tidal.py``, ``alerts.py``); this module gathers their inputs
from the database, records every decision with its reason (the ``decision`` table and an event),
and carries it out. ``tick`` is one controller pass: the server runs it every
``tidal.check_every_s`` seconds and ``hall simulate`` runs the very same function.

Use cases for people: ``step_away`` (a clerk leaves the window, even mid-service), ``cover`` (B, or
A coming back, takes the window with its queue and any ticket in service), ``register_leave``,
``set_post`` (the manager changes A/B, audited) and ``hold_tidal`` (the manager's override).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, func, insert, select, update

from hall import alarms, audit
from hall.db.database import Tx
from hall.db.models import decision_t, leave_t, post_t, ticket_t
from hall.errors import BadRequest, Conflict, Forbidden, NotFound
from hall.hallconfig import WindowCfg, _span_minutes
from hall.queue import repo
from hall.queue.calling import load_window, unknown_window
from hall.runtime import Actor, HallRuntime, ms
from hall.windows.alerts import wait_alerts
from hall.windows.events import window_event
from hall.windows.posts import (
    Leave,
    Post,
    PostStatus,
    available_clerks,
    covers_to_ask,
    leave_conflict,
    recall_from_tidal,
    vacant,
)
from hall.windows.tidal import Calendar, ServiceLoad, TidalRules, TidalWindow, decide

_dumps = msgspec.json.Encoder().encode

# A clerk asked to cover a post or to staff a tidal window who is not there this long after the ask
# (on a break the system does not know of, say) is taken as not coming: the controller asks the next
# available clerk. B's walk to a window takes a few minutes; five is generous.
ANSWER_WITHIN_S = 300.0


# --------------------------------------------------------------------------- reading state

def posts_of(conn: Connection, h: HallRuntime) -> dict[str, Post]:
    """Window -> its A/B post: the hall file's, or the manager's change of it."""
    out = {w.number: Post(w.number, w.post.a, w.post.b) for w in h.cfg.windows if w.post}
    for r in conn.execute(select(post_t).where(post_t.c.hall_id == h.id)):
        if h.cfg.window(r.window) is not None:
            out[r.window] = Post(r.window, r.a, r.b)
    return out


def leaves_of(conn: Connection, h: HallRuntime, from_ms: int | None = None) -> list[Leave]:
    q = select(leave_t.c.clerk, leave_t.c.start_ms, leave_t.c.end_ms).where(
        leave_t.c.hall_id == h.id, leave_t.c.cancelled_ms.is_(None))
    if from_ms is not None:
        q = q.where(leave_t.c.end_ms > from_ms)
    return [Leave(r.clerk, r.start_ms / 1000, r.end_ms / 1000) for r in conn.execute(q)]


def calendar_at(h: HallRuntime, local: datetime) -> Calendar:
    nxt = (local.replace(day=1) + timedelta(days=32)).replace(day=1)
    days_left = (nxt.date() - local.date()).days  # 1 on the last day of the month
    return Calendar(
        lunch=h.cfg.staffing.lunch_at(local),
        month_end=0 < days_left <= h.cfg.staffing.month_end_days,
        weekend=local.isoweekday() >= 6,
    )


def _span_start(h: HallRuntime, wcfg: WindowCfg, local: datetime) -> datetime | None:
    """When the current span of opening hours of any of the window's services began; None if closed."""
    minute = local.hour * 60 + local.minute
    starts = []
    for code in wcfg.services:
        svc = h.cfg.service(code)
        for span in svc.hours_on(local.isoweekday()) if svc else []:
            start, end = _span_minutes(span)
            if start <= minute < end:
                starts.append(start)
    if not starts:
        return None
    m = min(starts)
    return local.replace(hour=m // 60, minute=m % 60, second=0, microsecond=0)


_OLDEST = (
    select(ticket_t.c.service, func.min(ticket_t.c.queued_ms))
    .where(ticket_t.c.status == "waiting")
    .group_by(ticket_t.c.service)
)


def service_loads(conn: Connection, h: HallRuntime, now: datetime) -> list[ServiceLoad]:
    """Per service: how many wait, the oldest wait, the wait predicted for a ticket taken now."""
    from hall.queue.issuing import estimate_for

    waiting = repo.waiting_counts(conn, h.id)
    oldest = dict(conn.execute(_OLDEST.where(ticket_t.c.hall_id == h.id)).all())
    now_ms = ms(now)
    out = []
    for s in h.cfg.services:
        n = waiting.get(s.code, 0)
        out.append(ServiceLoad(
            code=s.code, name=s.name, waiting=n,
            oldest_wait_s=max(0.0, (now_ms - oldest[s.code]) / 1000) if s.code in oldest else 0.0,
            predicted_wait_s=float(estimate_for(conn, h, s.code, n)) if n else 0.0,
            target_wait_s=s.target_wait_min * 60.0, open=s.open_at(now),
        ))
    return out


# --------------------------------------------------------------------------- recording

def _record(tx: Tx, h: HallRuntime, now: datetime, kind: str, subject: str, action: str, code: str,
            reason: str, actor: str | None = None, **data: Any) -> None:
    tx.conn.execute(insert(decision_t).values(
        hall_id=h.id, at_ms=ms(now), kind=kind, subject=subject, action=action, code=code, reason=reason,
        actor=actor, data=_dumps(data).decode()))


def _audit(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, action: str, subject: str, **detail: Any) -> None:
    audit.record(tx, h.id, now, actor.username, action, subject, **detail)


def decisions(conn: Connection, h: HallRuntime, kind: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    q = select(decision_t).where(decision_t.c.hall_id == h.id)
    if kind:
        q = q.where(decision_t.c.kind == kind)
    q = q.order_by(decision_t.c.at_ms.desc(), decision_t.c.id.desc()).limit(limit)
    return [{"at": h.iso(r.at_ms), "kind": r.kind, "subject": r.subject, "action": r.action, "code": r.code,
             "reason": r.reason, "actor": r.actor, "data": msgspec.json.decode(r.data)} for r in conn.execute(q)]


# --------------------------------------------------------------------------- AB posts

def _ask_cover(tx: Tx, h: HallRuntime, now: datetime, post: Post, why: str,
               clerk: str | None = None) -> dict[str, Any] | None:
    """Tell the clerk asked to cover (B, or a standby clerk when B cannot come) at once: an event for
    their terminal and the console; once per absence, unless they do not answer."""
    asked = clerk or post.b
    if asked is None:
        return None
    wcfg = h.cfg.window(post.window)
    repo.set_window(tx.conn, h.id, post.window, cover_asked=asked)
    tx.emit(h.id, "post.cover_needed", now, {
        "window": post.window, "window_name": wcfg.name if wcfg else post.window, "a": post.a, "b": post.b,
        "asked": asked, "reason": why,
    })
    code = "a_absent" if asked == post.b else "relief"
    _record(tx, h, now, "post", post.window, "cover_needed", code, why, b=post.b, asked=asked)
    return {"kind": "post", "action": "cover_needed", "window": post.window, "clerk": asked, "reason": why}


def _asked_at_ms(conn: Connection, h: HallRuntime, kind: str, window: str, actions: tuple[str, ...]) -> int | None:
    """When the controller last asked somebody to come to ``window`` (a cover, a tidal opening)."""
    return conn.execute(select(func.max(decision_t.c.at_ms)).where(
        decision_t.c.hall_id == h.id, decision_t.c.kind == kind, decision_t.c.subject == window,
        decision_t.c.action.in_(actions))).scalar()


def _unanswered(conn: Connection, h: HallRuntime, kind: str, window: str, actions: tuple[str, ...],
                now_ms: int) -> bool:
    """The clerk asked to come has not come within ``ANSWER_WITHIN_S``: ask somebody else."""
    at = _asked_at_ms(conn, h, kind, window, actions)
    return at is not None and now_ms - at >= ANSWER_WITHIN_S * 1000


def attended(tx: Tx, h: HallRuntime, now: datetime, number: str, row: Any) -> None:
    """Somebody is at the window again: the vacancy, if any, is over."""
    if row.vacant:
        alarms.clear_alarm(tx, h, now, "post", number, "post_vacant")
        tx.emit(h.id, "post.vacancy_cleared", now, {"window": number})
    repo.set_window(tx.conn, h.id, number, left_ms=None, away_reason=None, vacant=False, cover_asked=None)


def _expected(h: HallRuntime, wcfg: WindowCfg, row: Any, local: datetime) -> bool:
    if wcfg.kind == "tidal":
        return bool(row.tidal_open)
    return _span_start(h, wcfg, local) is not None


def after_leaving(tx: Tx, h: HallRuntime, number: str, clerk: str, now: datetime) -> None:
    """A clerk signed out or stepped away: start the absence, and call B if the window should be open."""
    wcfg = h.cfg.window(number)
    row = repo.get_window(tx.conn, h.id, number)
    repo.set_window(tx.conn, h.id, number, left_ms=ms(now), cover_asked=None)
    post = posts_of(tx.conn, h).get(number)
    if post is None or wcfg is None or not _expected(h, wcfg, row, now) or clerk == post.b:
        return
    who = cover_candidate(tx.conn, h, number, now, leaving=clerk)
    if who is not None:
        _ask_cover(tx, h, now, post, f"{clerk}离岗", who)
    # else: B and the standby clerks are away or busy; the controller keeps asking, and 空岗 follows
    # past the limit


def cover_candidate(conn: Connection, h: HallRuntime, number: str, now: datetime,
                    leaving: str | None = None) -> str | None:
    """Who would be asked to cover ``number`` if its clerk (``leaving``) stepped away now: its B,
    else a standby clerk, who is available (not signed in elsewhere, not on leave or a registered
    break, not asked to go elsewhere) and not needed first at a post that has been empty longer.
    None: nobody could come. A clerk's terminal can show it before they step away."""
    posts = posts_of(conn, h)
    if number not in posts:
        return None
    rows = {r.window: r for r in repo.window_rows(conn, h.id)}
    statuses = [PostStatus(st.post, True, None, now.timestamp()) if st.post.window == number else st
                for st in _post_statuses(h, rows, posts, now)]
    busy = {leaving} if leaving else set()
    asks, _ = _cover_plan(conn, h, rows, posts, statuses, leaves_of(conn, h, ms(now)), now, leaving=busy)
    return asks.get(number)


def _post_statuses(h: HallRuntime, rows: dict[str, Any], posts: dict[str, Post], now: datetime) -> list[PostStatus]:
    """Every post: expected now, who is on duty, since when nobody is (while expected)."""
    now_s = now.timestamp()
    statuses: list[PostStatus] = []
    for number, post in posts.items():
        wcfg, row = h.cfg.window(number), rows.get(number)
        if wcfg is None or row is None:
            continue
        expected = _expected(h, wcfg, row, now)
        on_duty = row.clerk
        since = None
        if expected and on_duty is None:
            begun = (row.tidal_since_ms / 1000 if wcfg.kind == "tidal" and row.tidal_since_ms
                     else (s.timestamp() if (s := _span_start(h, wcfg, now)) else now_s))
            since = max(begun, row.left_ms / 1000 if row.left_ms else begun)
        statuses.append(PostStatus(post, expected, on_duty, since))
    return statuses


def _cover_plan(conn: Connection, h: HallRuntime, rows: dict[str, Any], posts: dict[str, Post],
                statuses: list[PostStatus], leaves: list[Leave], now: datetime,
                leaving: set[str] | frozenset[str] = frozenset()) -> tuple[dict[str, str], dict[str, str]]:
    """(window -> the clerk to ask now, window -> the clerk asked before and still expected).

    A clerk asked who is not there after ``ANSWER_WITHIN_S`` is no longer waited for: somebody else
    is asked (the first may still come). An open tidal window whose named clerk is not there yet
    waits for them, or for the one named next. ``leaving``: clerks about to step away (not
    available, though still signed in)."""
    now_ms = ms(now)
    signed_in = {r.clerk for r in rows.values() if r.clerk} | set(leaving)
    relief = _standby_pool(conn, h, posts)
    covers_asked = _covers_asked(rows)
    pending = {w: c for w, c in covers_asked.items()
               if not _unanswered(conn, h, "post", w, ("cover_needed",), now_ms)}
    busy = signed_in | _tidal_asked(rows) | set(covers_asked.values())
    backups = {p.b for p in posts.values() if p.b}
    free = available_clerks(backups | set(relief), busy, leaves, now.timestamp())
    on_call = {w for w, r in rows.items() if _awaiting_named(r)}
    waiting = [st for st in statuses if st.post.window not in pending and st.post.window not in on_call]
    return covers_to_ask(waiting, free, relief), pending


def step_away(tx: Tx, h: HallRuntime, number: str, actor: Actor, reason: str) -> dict[str, Any]:
    """The signed-in clerk leaves the window in whatever state it is; it keeps its ticket for B."""
    from hall.windows.service import window_view

    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("离岗需要填写原因", "stepping away needs a reason", code="reason_required")
    wcfg, row = load_window(tx, h, number, actor)
    if row.clerk is None:
        raise Conflict(f"{wcfg.name}当前无人在岗", "nobody is signed in to this window", code="window_state",
                       extra={"state": row.state})
    now = h.now()
    clerk = row.clerk
    repo.set_window(tx.conn, h.id, number, clerk=None, away_reason=reason[:200], updated_ms=ms(now))
    h.forget("open_windows")
    tx.emit(h.id, "post.away", now, {"window": number, "window_name": wcfg.name, "clerk": clerk,
                                     "reason": reason[:200], "state": row.state})
    after_leaving(tx, h, number, clerk, now)
    return window_view(tx.conn, h, number)


def cover(tx: Tx, h: HallRuntime, number: str, actor: Actor) -> dict[str, Any]:
    """B (or A, coming back, or a standby clerk the controller asked because B could not come) takes
    the window: its state, its queue and any ticket in service."""
    from hall.windows.service import window_view

    wcfg, row = load_window(tx, h, number, None)
    post = posts_of(tx.conn, h).get(number)
    if row.clerk == actor.username:
        return window_view(tx.conn, h, number)
    # a standby clerk (备勤) may step in when nobody is there: the one asked, or one asked before
    relief = row.clerk is None and (row.cover_asked == actor.username
                                    or actor.username in _standby_pool(tx.conn, h, posts_of(tx.conn, h)))
    if post is None or (actor.username not in (post.a, post.b) and not relief):
        raise Forbidden(f"您不是{wcfg.name}的A岗或B岗", "you are neither A nor B of this window's post",
                        code="not_your_post")
    if row.clerk is not None and actor.username != post.a:
        raise Conflict(f"{wcfg.name}有人在岗，请先交接", "somebody is at this window; hand over first",
                       code="window_taken", extra={"on_duty": row.clerk})
    elsewhere = [w for w in repo.window_rows(tx.conn, h.id) if w.clerk == actor.username and w.window != number]
    if elsewhere:
        raise Conflict(f"您已在{elsewhere[0].window}号窗口签到，请先签退", "you are signed in at another window",
                       code="signed_in_elsewhere", extra={"window": elsewhere[0].window})
    now = h.now()
    state = "idle" if row.state == "closed" else row.state
    previous = row.clerk
    repo.set_window(tx.conn, h.id, number, clerk=actor.username, state=state, updated_ms=ms(now))
    attended(tx, h, now, number, row)
    h.forget("open_windows")
    role = "a" if actor.username == post.a else "b" if actor.username == post.b else "relief"
    tx.emit(h.id, "post.covered", now, {"window": number, "window_name": wcfg.name, "by": actor.username,
                                        "role": role, "relieved": previous})
    _record(tx, h, now, "post", number, "returned" if role == "a" else "covered", role,
            f"{actor.username}回岗" if role == "a" else f"{actor.username}接岗", actor=actor.username)
    window_event(tx, h, number, state, now, clerk=actor.display_name or actor.username, covering=role != "a")
    return window_view(tx.conn, h, number)


def register_leave(tx: Tx, h: HallRuntime, actor: Actor, clerk: str, start: str, end: str,
                   reason: str = "") -> dict[str, Any]:
    """Register leave in advance; refused when A and B of one post would be away at once."""
    if actor.username != clerk and not actor.is_supervisor:
        raise Forbidden("只能为自己请假（管理员除外）", "you may register only your own leave", code="not_your_leave")
    t0, t1 = h.parse_time(start), h.parse_time(end)
    if t1 <= t0:
        raise BadRequest("结束时间须晚于开始时间", "end must be after start", code="bad_time")
    tx.lock_hall(h.id)
    new = Leave(clerk, t0.timestamp(), t1.timestamp())
    clash = leave_conflict(new, leaves_of(tx.conn, h, ms(t0)), posts_of(tx.conn, h).values())
    if clash is not None:
        wname = h.cfg.window(clash.post.window).name
        raise Conflict(
            f"{clash.partner}同一时段已请假，{wname}的A岗和B岗不能同时离岗",
            f"{clash.partner} is on leave then too: A and B of window {clash.post.window} may not be away at once",
            code="leave_conflict", extra={"window": clash.post.window, "partner": clash.partner},
        )
    now = h.now()
    leave_id = secrets.token_hex(8)
    tx.conn.execute(insert(leave_t).values(
        id=leave_id, hall_id=h.id, clerk=clerk, start_ms=ms(t0), end_ms=ms(t1), reason=(reason or "")[:200],
        created_ms=ms(now), created_by=actor.username))
    _audit(tx, h, now, actor, "leave.register", clerk, start=t0.isoformat(), end=t1.isoformat())
    windows = [p.window for p in posts_of(tx.conn, h).values() if clerk in (p.a, p.b)]
    tx.emit(h.id, "post.leave", now, {"clerk": clerk, "start": t0.isoformat(timespec="minutes"),
                                      "end": t1.isoformat(timespec="minutes"), "windows": windows})
    return {"id": leave_id, "clerk": clerk, "start": t0.isoformat(), "end": t1.isoformat(), "windows": windows}


def list_leaves(conn: Connection, h: HallRuntime) -> list[dict[str, Any]]:
    q = select(leave_t).where(leave_t.c.hall_id == h.id, leave_t.c.cancelled_ms.is_(None)).order_by(
        leave_t.c.start_ms)
    return [{"id": r.id, "clerk": r.clerk, "start": h.iso(r.start_ms), "end": h.iso(r.end_ms), "reason": r.reason}
            for r in conn.execute(q)]


def cancel_leave(tx: Tx, h: HallRuntime, actor: Actor, leave_id: str) -> dict[str, Any]:
    r = tx.conn.execute(select(leave_t).where(leave_t.c.hall_id == h.id, leave_t.c.id == leave_id)).first()
    if r is None or r.cancelled_ms is not None:
        raise NotFound("没有找到该请假记录", "unknown leave", code="unknown_leave")
    if actor.username != r.clerk and not actor.is_supervisor:
        raise Forbidden("只能取消自己的请假", "you may cancel only your own leave", code="not_your_leave")
    now = h.now()
    tx.conn.execute(update(leave_t).where(leave_t.c.id == leave_id).values(cancelled_ms=ms(now)))
    _audit(tx, h, now, actor, "leave.cancel", r.clerk, id=leave_id)
    return {"id": leave_id, "cancelled": True}


def set_post(tx: Tx, h: HallRuntime, actor: Actor, number: str, a: str, b: str | None) -> dict[str, Any]:
    """The manager changes a window's A/B clerks; audited, and on the stream."""
    wcfg = h.cfg.window(number)
    if wcfg is None:
        raise unknown_window(number)
    a, b = (a or "").strip(), (b or "").strip() or None
    if not a:
        raise BadRequest("A 岗不能为空", "a is required", code="post_a_required")
    if a == b:
        raise BadRequest("A 岗与 B 岗不能是同一人", "A and B must be different clerks", code="post_same_clerk")
    tx.lock_hall(h.id)
    posts = posts_of(tx.conn, h)
    other = next((p for p in posts.values() if p.a == a and p.window != number), None)
    if other is not None:
        raise Conflict(f"{a}已是{other.window}号窗口的A岗", f"{a} is already A of window {other.window}",
                       code="post_taken", extra={"window": other.window})
    now = h.now()
    before = posts.get(number)
    tx.conn.execute(post_t.delete().where(post_t.c.hall_id == h.id, post_t.c.window == number))
    tx.conn.execute(insert(post_t).values(hall_id=h.id, window=number, a=a, b=b, updated_ms=ms(now),
                                          updated_by=actor.username))
    _audit(tx, h, now, actor, "post.change", number, a=a, b=b,
           before={"a": before.a, "b": before.b} if before else None)
    tx.emit(h.id, "post.changed", now, {"window": number, "a": a, "b": b, "by": actor.username})
    return {"window": number, "a": a, "b": b}


# --------------------------------------------------------------------------- tidal windows

def announce_open(h: HallRuntime, wcfg: WindowCfg, services: Iterable[str]) -> str:
    names = "、".join(h.cfg.service(c).name for c in services if h.cfg.service(c))
    return f"{wcfg.name}临时开放：{names}"


def _open_tidal(tx: Tx, h: HallRuntime, now: datetime, wcfg: WindowCfg, services: tuple[str, ...], clerk: str | None,
                code: str, reason: str, actor: str | None = None) -> dict[str, Any]:
    repo.set_window(tx.conn, h.id, wcfg.number, tidal_open=True, tidal_closing=False,
                    tidal_services=",".join(services), tidal_since_ms=ms(now), tidal_clerk=clerk)
    h.forget("open_windows")
    text = announce_open(h, wcfg, services)
    tx.emit(h.id, "tidal.opened", now, {
        "window": wcfg.number, "window_name": wcfg.name, "services": list(services), "clerk": clerk,
        "reason": reason, "code": code, "announcement": text, "by": actor,
    })
    _record(tx, h, now, "tidal", wcfg.number, "open", code, reason, actor, services=list(services), clerk=clerk)
    return {"kind": "tidal", "action": "open", "window": wcfg.number, "clerk": clerk, "services": list(services),
            "reason": reason, "announcement": text}


def _close_tidal(tx: Tx, h: HallRuntime, now: datetime, wcfg: WindowCfg, row: Any, code: str, reason: str,
                 actor: str | None = None) -> dict[str, Any]:
    """Stop taking visitors; the clerk finishes the one in service, then goes back to standby."""
    busy = row.state in ("calling", "serving")
    repo.set_window(tx.conn, h.id, wcfg.number, tidal_open=False, tidal_closing=busy, tidal_since_ms=ms(now),
                    tidal_clerk=None)
    h.forget("open_windows")
    tx.emit(h.id, "tidal.closed", now, {"window": wcfg.number, "window_name": wcfg.name, "reason": reason,
                                        "code": code, "clerk": row.clerk, "by": actor})
    _record(tx, h, now, "tidal", wcfg.number, "close", code, reason, actor, clerk=row.clerk)
    if not busy:
        _release_tidal_clerk(tx, h, now, wcfg, row)
    return {"kind": "tidal", "action": "close", "window": wcfg.number, "clerk": row.clerk, "reason": reason}


def _release_tidal_clerk(tx: Tx, h: HallRuntime, now: datetime, wcfg: WindowCfg, row: Any) -> None:
    repo.set_window(tx.conn, h.id, wcfg.number, state="closed", clerk=None, ticket_id=None, pause_reason=None,
                    tidal_closing=False, left_ms=None, away_reason=None, cover_asked=None, updated_ms=ms(now))
    if row.state != "closed":
        window_event(tx, h, wcfg.number, "closed", now)


def _standby_pool(conn: Connection, h: HallRuntime, posts: dict[str, Post]) -> list[str]:
    """The tidal posts' A and B, then the hall's other standby clerks."""
    pool = [c for w in h.cfg.windows if w.kind == "tidal" and (p := posts.get(w.number)) for c in (p.a, p.b) if c]
    return list(dict.fromkeys(pool + list(h.cfg.tidal.standby)))


def _standby_for(conn: Connection, h: HallRuntime, number: str, now: datetime) -> str | None:
    """Who to ask to staff tidal window ``number``: its own A or B first, else anyone free on standby."""
    posts = posts_of(conn, h)
    rows = repo.window_rows(conn, h.id)
    busy = {r.clerk for r in rows if r.clerk} | {r.tidal_clerk for r in rows if r.tidal_open and r.tidal_clerk}
    free = available_clerks(_standby_pool(conn, h, posts), busy, leaves_of(conn, h, ms(now)), now.timestamp())
    post = posts.get(number)
    return next((c for c in ((post.a, post.b) if post else ()) if c in free), None) or min(free, default=None)


def hold_tidal(tx: Tx, h: HallRuntime, actor: Actor, number: str, action: str, services: list[str] | None = None,
               minutes: int = 60) -> dict[str, Any]:
    """The manager's override: hold a tidal window open or closed for a while, or release it to the policy."""
    wcfg = h.cfg.window(number)
    if wcfg is None:
        raise unknown_window(number)
    if wcfg.kind != "tidal":
        raise Conflict(f"{wcfg.name}不是潮汐窗口", "not a tidal window", code="not_tidal")
    if action not in ("open", "close", "release"):
        raise BadRequest("action 须为 open、close 或 release", "action must be open, close or release",
                         code="bad_action")
    tx.lock_hall(h.id)
    row = repo.get_window(tx.conn, h.id, number, lock=True)
    now = h.now()
    until = ms(now) + max(1, min(minutes, 24 * 60)) * 60_000
    if action == "release":
        repo.set_window(tx.conn, h.id, number, held=None, held_until_ms=None)
        _record(tx, h, now, "tidal", number, "release", "override", "交还潮汐策略", actor.username)
    elif action == "open":
        chosen = tuple(services or wcfg.services)
        unknown = [c for c in chosen if c not in wcfg.services]
        if unknown:
            raise BadRequest(f"{wcfg.name}不办理 {'、'.join(unknown)}", f"the window does not serve {unknown}",
                             code="wrong_service")
        repo.set_window(tx.conn, h.id, number, held="open", held_until_ms=until)
        if row.tidal_open:  # already open: it takes what the manager says, nobody is asked again
            repo.set_window(tx.conn, h.id, number, tidal_services=",".join(chosen))
            h.forget("open_windows")
            tx.emit(h.id, "tidal.changed", now, {"window": number, "window_name": wcfg.name,
                                                 "services": list(chosen), "reason": "管理员调整",
                                                 "announcement": announce_open(h, wcfg, chosen)})
            _record(tx, h, now, "tidal", number, "take", "override", "管理员调整", actor.username,
                    services=list(chosen))
        else:
            _open_tidal(tx, h, now, wcfg, chosen, _standby_for(tx.conn, h, number, now), "override",
                        "管理员手动开启", actor.username)
    else:
        repo.set_window(tx.conn, h.id, number, held="closed", held_until_ms=until)
        if row.tidal_open:
            _close_tidal(tx, h, now, wcfg, row, "override", "管理员手动关闭", actor.username)
    _audit(tx, h, now, actor, f"tidal.{action}", number, minutes=minutes, services=services)
    from hall.windows.service import window_view

    return window_view(tx.conn, h, number)


# --------------------------------------------------------------------------- the controller

def _tidal_asked(rows: dict[str, Any]) -> set[str]:
    """Standby clerks named to staff an open tidal window and not there (yet, or stepped away)."""
    return {r.tidal_clerk for r in rows.values() if r.tidal_open and r.tidal_clerk and r.clerk is None}


def _awaiting_named(row: Any) -> bool:
    """An open tidal window nobody has signed in to yet since it opened: it waits for the standby
    clerk named to staff it. (Once signed in, a clerk who steps away is covered like any post.)"""
    return bool(row.tidal_open and row.tidal_clerk and row.clerk is None and row.state == "closed")


def _covers_asked(rows: dict[str, Any]) -> dict[str, str]:
    """Window -> the B asked to cover it, while nobody is there yet."""
    return {r.window: r.cover_asked for r in rows.values() if r.cover_asked and r.clerk is None}


def tick(tx: Tx, h: HallRuntime) -> list[dict[str, Any]]:
    """One pass of the controller at ``h.now()``: tidal windows, AB cover and 空岗, wait alerts."""
    conn = tx.conn
    tx.lock_hall(h.id)
    now = h.now()
    now_ms, now_s = ms(now), now.timestamp()
    h.forget()  # the inputs must be now's, not a cached moment ago
    rows = {r.window: r for r in repo.window_rows(conn, h.id)}
    posts = posts_of(conn, h)
    leaves = leaves_of(conn, h, now_ms)
    loads = service_loads(conn, h, now)
    out: list[dict[str, Any]] = []

    # Tidal windows that finished their last visitor go back to standby; expired overrides end.
    for number, row in rows.items():
        wcfg = h.cfg.window(number)
        if wcfg is None:
            continue
        if row.held and row.held_until_ms is not None and row.held_until_ms <= now_ms:
            repo.set_window(conn, h.id, number, held=None, held_until_ms=None)
        if row.tidal_closing and row.state in ("idle", "paused", "closed"):
            _release_tidal_clerk(tx, h, now, wcfg, row)
    rows = {r.window: r for r in repo.window_rows(conn, h.id)}

    signed_in = {r.clerk for r in rows.values() if r.clerk}
    tidal_cfgs = [w for w in h.cfg.windows if w.kind == "tidal"]
    pool = _standby_pool(conn, h, posts)
    asked = _tidal_asked(rows) | set(_covers_asked(rows).values())
    free = available_clerks(pool, signed_in | asked, leaves, now_s)

    rules = TidalRules.from_cfg(h.cfg.tidal)
    twindows = [
        TidalWindow(
            w.number, tuple(w.services), open=bool(rows[w.number].tidal_open),
            since_s=rows[w.number].tidal_since_ms / 1000 if rows[w.number].tidal_since_ms else float("-inf"),
            taking=tuple(rows[w.number].tidal_services.split(",")) if rows[w.number].tidal_services else (),
            # held by the manager, or by a clerk who signed in to it by hand: not the policy's to change
            held=bool(rows[w.number].held) or (rows[w.number].clerk is not None and not rows[w.number].tidal_open),
        )
        for w in tidal_cfgs if w.number in rows
    ]
    for d in decide(loads, twindows, len(free), now_s, rules, calendar_at(h, now)):
        wcfg = h.cfg.window(d.window)
        row = rows[d.window]
        if d.action == "open":
            post = posts.get(d.window)
            pick = next((c for c in ((post.a, post.b) if post else ()) if c in free), None) or min(free)
            free.discard(pick)
            out.append(_open_tidal(tx, h, now, wcfg, d.services, pick, d.code, d.reason))
        elif d.action == "take":
            repo.set_window(conn, h.id, d.window, tidal_services=",".join(d.services), tidal_since_ms=now_ms)
            h.forget("open_windows")
            tx.emit(h.id, "tidal.changed", now, {"window": d.window, "window_name": wcfg.name,
                                                 "services": list(d.services), "reason": d.reason,
                                                 "announcement": announce_open(h, wcfg, d.services)})
            _record(tx, h, now, "tidal", d.window, "take", d.code, d.reason, services=list(d.services))
            out.append({"kind": "tidal", "action": "take", "window": d.window, "services": list(d.services),
                        "reason": d.reason})
        else:
            out.append(_close_tidal(tx, h, now, wcfg, row, d.code, d.reason))
    rows = {r.window: r for r in repo.window_rows(conn, h.id)}

    # An open tidal window whose named clerk has not come (on a break, say): name another.
    for number, row in rows.items():
        if not (_awaiting_named(row) and free) or row.held:
            continue
        if not _unanswered(conn, h, "tidal", number, ("open", "reassign"), now_ms):
            continue
        post = posts.get(number)
        pick = next((c for c in ((post.a, post.b) if post else ()) if c in free), None) or min(free)
        free.discard(pick)
        repo.set_window(conn, h.id, number, tidal_clerk=pick)
        wname = h.cfg.window(number).name
        reason = f"{row.tidal_clerk}未到岗，改由{pick}开启{wname}"
        tx.emit(h.id, "tidal.reassigned", now, {"window": number, "window_name": wname, "clerk": pick,
                                                "instead_of": row.tidal_clerk, "reason": reason})
        _record(tx, h, now, "tidal", number, "reassign", "no_answer", reason, clerk=pick, instead_of=row.tidal_clerk)
        out.append({"kind": "tidal", "action": "reassign", "window": number, "clerk": pick, "reason": reason,
                    "services": row.tidal_services.split(",") if row.tidal_services else []})
    rows = {r.window: r for r in repo.window_rows(conn, h.id)}

    # AB posts: who is missing, who is asked, which post is 空岗.
    limit_s = h.cfg.staffing.vacancy_limit_min * 60.0
    statuses = _post_statuses(h, rows, posts, now)
    covers_asked = _covers_asked(rows)
    asks, pending = _cover_plan(conn, h, rows, posts, statuses, leaves, now)
    tidal_staff = {r.window: r.clerk for r in rows.values()
                   if r.clerk and r.tidal_open and not r.tidal_closing and not r.held}
    on_the_way = set(asks) | set(pending)
    regular = [st for st in statuses if h.cfg.window(st.post.window).kind != "tidal"]
    for tidal, post_window in recall_from_tidal(regular, on_the_way, tidal_staff, _standby_pool(conn, h, posts),
                                                 {w for w, r in rows.items() if r.left_ms}).items():
        wname = h.cfg.window(post_window).name
        out.append(_close_tidal(tx, h, now, h.cfg.window(tidal), rows[tidal], "cover",
                                f"{tidal_staff[tidal]}需接{wname}（AB岗优先）"))
    for number, clerk in asks.items():
        why = "A岗不在岗" if clerk == posts[number].b else "B岗无法接岗，备勤顶岗"
        if covers_asked.get(number):
            why = f"{covers_asked[number]}未到岗，改请{clerk}"
        d = _ask_cover(tx, h, now, posts[number], why, clerk)
        if d:
            out.append(d)
    for st in statuses:
        row = rows[st.post.window]
        if vacant(st, now_s, limit_s) and not row.vacant:
            minutes = round((now_s - (st.unattended_since_s or now_s)) / 60)
            repo.set_window(conn, h.id, st.post.window, vacant=True)
            wname = h.cfg.window(st.post.window).name
            detail = {"window": st.post.window, "window_name": wname, "minutes": minutes, "a": st.post.a,
                      "b": st.post.b, "text": f"{wname}空岗超过{h.cfg.staffing.vacancy_limit_min}分钟"}
            alarms.raise_alarm(tx, h, now, "post", st.post.window, "post_vacant", "major", detail)
            tx.emit(h.id, "post.vacant", now, detail)
            _record(tx, h, now, "post", st.post.window, "vacant", "vacancy", detail["text"], minutes=minutes)
            out.append({"kind": "post", "action": "vacant", "window": st.post.window, "minutes": minutes})
        elif row.vacant and (not st.expected or st.on_duty is not None):
            alarms.clear_alarm(tx, h, now, "post", st.post.window, "post_vacant")
            repo.set_window(conn, h.id, st.post.window, vacant=False)
            tx.emit(h.id, "post.vacancy_cleared", now, {"window": st.post.window})

    # Wait alerts.
    active = set(alarms.active_by_subject(conn, h.id, "service", "wait_alert"))
    for ch in wait_alerts(loads, active, h.cfg.alerts.clear_ratio):
        svc = h.cfg.service(ch.service)
        data = {"service": ch.service, "service_name": svc.name, "wait_s": round(ch.wait_s),
                "target_s": round(ch.target_s),
                "waiting": next(ld.waiting for ld in loads if ld.code == ch.service)}
        if ch.action == "raise":
            text = f"{svc.name}等候约{round(ch.wait_s / 60)}分钟，超过目标{svc.target_wait_min}分钟"
            alarms.raise_alarm(tx, h, now, "service", ch.service, "wait_alert", "minor", {**data, "text": text})
            tx.emit(h.id, "wait.alert", now, {**data, "text": text})
            _record(tx, h, now, "wait", ch.service, "alert", "over_target", text, **data)
        else:
            alarms.clear_alarm(tx, h, now, "service", ch.service, "wait_alert")
            tx.emit(h.id, "wait.cleared", now, data)
            _record(tx, h, now, "wait", ch.service, "clear", "below_target", f"{svc.name}等候已回落", **data)
        out.append({"kind": "wait", "action": ch.action, "service": ch.service, "wait_s": round(ch.wait_s)})
    return out
