"""Use cases of a window clerk: call next, call a chosen ticket, recall, no-show, start, finish,
transfer. Each runs in one write transaction; the window row is locked first, the ticket is taken
with a compare-and-set, so two windows pressing at once never get the same ticket."""

from __future__ import annotations

from typing import Any

from hall import followup
from hall.db.database import Tx
from hall.errors import Conflict, Forbidden, NotFound
from hall.queue import repo
from hall.queue.issuing import already_waiting, holds_active, unknown_service, unknown_ticket
from hall.queue.policy import choose_next
from hall.runtime import Actor, HallRuntime, ms
from hall.windows.events import window_event
from hall.windows.states import next_state, services_of

MAX_RACE_RETRIES = 16


def unknown_window(number: str) -> NotFound:
    return NotFound(f"没有{number}号窗口", f"unknown window {number!r}", code="unknown_window")


def load_window(tx: Tx, h: HallRuntime, number: str, actor: Actor | None) -> tuple[Any, Any]:
    """The window's config and locked row, after checking the actor may act on it."""
    cfg = h.cfg.window(number)
    if cfg is None:
        raise unknown_window(number)
    tx.lock_hall(h.id)
    row = repo.get_window(tx.conn, h.id, number, lock=True)
    if row is None:
        raise unknown_window(number)
    if actor is not None and not actor.is_supervisor and row.clerk != actor.username:
        raise Forbidden("您未在该窗口签到，不能操作", "you are not signed in to this window", code="not_your_window")
    return cfg, row


def ticket_brief(h: HallRuntime, t: Any, **override: Any) -> dict[str, Any]:
    d = {
        "id": t.id, "number": t.number, "service": t.service, "status": t.status, "window": t.window,
        "called_at": h.iso(t.called_ms),
    }
    d.update(override)
    return d


def _announce(tx: Tx, h: HallRuntime, t: Any, wcfg: Any, recall: int, now: Any) -> None:
    tx.emit(h.id, "ticket.called", now, {
        "ticket": t.number, "ticket_id": t.id, "service": t.service, "window": wcfg.number,
        "window_name": wcfg.name, "announcement": f"请{t.number}号到{wcfg.name}办理", "recall": recall,
        "waiting": repo.waiting_in(tx.conn, h.id, t.service),
    })


def _finish_current(tx: Tx, h: HallRuntime, row: Any, wcfg: Any, now: Any, rating: int | None) -> Any:
    t = repo.get_ticket(tx.conn, h.id, row.ticket_id)
    repo.set_ticket(tx.conn, h.id, t.id, status="finished", finished_ms=ms(now), rating=rating)
    service_s = round((ms(now) - (t.started_ms or ms(now))) / 1000)
    tx.emit(h.id, "ticket.finished", now, {
        "ticket": t.number, "ticket_id": t.id, "service": t.service, "window": wcfg.number, "rating": rating,
        "service_s": service_s,
    })
    h.forget(f"recent:{t.service}")
    return t


def call_next(tx: Tx, h: HallRuntime, number: str, actor: Actor | None) -> dict[str, Any] | None:
    """Call the ticket the policy picks; None when nobody waits for this window."""
    wcfg, row = load_window(tx, h, number, actor)
    next_state("call", row.state)
    if row.tidal_closing:
        return None  # a tidal window that is closing takes nobody new
    now = h.now()
    services = services_of(wcfg, row)
    for _ in range(MAX_RACE_RETRIES):
        candidates = repo.call_candidates(tx.conn, h.id, services, h.policy)
        choice = choose_next(
            candidates, services, h.policy, streak=row.priority_streak, priority_window=wcfg.kind == "priority"
        )
        if choice is None:
            return None
        if repo.set_ticket(tx.conn, h.id, choice.ticket.id, expect="waiting", status="called",
                           window=number, called_ms=ms(now)):
            repo.mark_passed_over(tx.conn, h.id, services, choice.ticket)
            return _called(tx, h, wcfg, row, choice.ticket.id, now, streak=choice.priority_streak)
    raise Conflict("叫号冲突，请重试", "another window took the ticket; please try again", code="call_race")


def call_ticket(tx: Tx, h: HallRuntime, number: str, actor: Actor | None, ticket_id: str) -> dict[str, Any]:
    """Call a chosen ticket out of order (a clerk's explicit choice; it counts no overtakes)."""
    wcfg, row = load_window(tx, h, number, actor)
    next_state("call", row.state)
    t = repo.get_ticket(tx.conn, h.id, ticket_id, lock=True)
    if t is None:
        raise unknown_ticket()
    if t.service not in wcfg.services:
        raise Conflict(f"{wcfg.name}不办理该业务", "this window does not serve that service", code="wrong_service")
    now = h.now()
    if not repo.set_ticket(tx.conn, h.id, t.id, expect="waiting", status="called", window=number,
                           called_ms=ms(now)):
        raise Conflict("该票不在等候中", "the ticket is not waiting", code="ticket_state", extra={"status": t.status})
    return _called(tx, h, wcfg, row, t.id, now, streak=row.priority_streak)


def _called(tx: Tx, h: HallRuntime, wcfg: Any, row: Any, ticket_id: str, now: Any, *, streak: int) -> dict[str, Any]:
    t = repo.get_ticket(tx.conn, h.id, ticket_id)
    _announce(tx, h, t, wcfg, 0, now)  # first: the call-out is what screens wait for
    if row.state == "serving" and row.ticket_id:  # call-next from serving finishes the current visitor
        _finish_current(tx, h, row, wcfg, now, rating=None)
    repo.set_window(tx.conn, h.id, wcfg.number, state="calling", ticket_id=ticket_id, priority_streak=streak,
                    updated_ms=ms(now))
    h.forget("open_windows")  # a window became free or busy: estimates count free ones
    window_event(tx, h, wcfg.number, "calling", now, ticket=t.number)
    return ticket_brief(h, t)


def _current(tx: Tx, h: HallRuntime, row: Any) -> Any:
    t = repo.get_ticket(tx.conn, h.id, row.ticket_id, lock=True) if row.ticket_id else None
    if t is None:
        raise Conflict("窗口当前没有票", "the window has no current ticket", code="window_state")
    return t


def recall(tx: Tx, h: HallRuntime, number: str, actor: Actor | None) -> dict[str, Any]:
    wcfg, row = load_window(tx, h, number, actor)
    next_state("recall", row.state)
    t = _current(tx, h, row)
    now = h.now()
    repo.set_ticket(tx.conn, h.id, t.id, recall_count=t.recall_count + 1)
    _announce(tx, h, t, wcfg, t.recall_count + 1, now)
    return {"ticket": ticket_brief(h, t), "recall": t.recall_count + 1}


def no_show(tx: Tx, h: HallRuntime, number: str, actor: Actor | None) -> dict[str, Any]:
    wcfg, row = load_window(tx, h, number, actor)
    state = next_state("no_show", row.state)
    t = _current(tx, h, row)
    now = h.now()
    repo.set_ticket(tx.conn, h.id, t.id, status="no_show", no_show_ms=ms(now))
    repo.set_window(tx.conn, h.id, number, state=state, ticket_id=None, updated_ms=ms(now))
    h.forget("open_windows")  # a window became free or busy: estimates count free ones
    tx.emit(h.id, "ticket.no_show", now, {"ticket": t.number, "ticket_id": t.id, "service": t.service,
                                          "window": number})
    window_event(tx, h, wcfg.number, state, now)
    return {"ticket": ticket_brief(h, t, status="no_show")}


def start(tx: Tx, h: HallRuntime, number: str, actor: Actor | None) -> dict[str, Any]:
    wcfg, row = load_window(tx, h, number, actor)
    state = next_state("start", row.state)
    t = _current(tx, h, row)
    now = h.now()
    repo.set_ticket(tx.conn, h.id, t.id, status="serving", started_ms=ms(now))
    repo.set_window(tx.conn, h.id, number, state=state, updated_ms=ms(now))
    tx.emit(h.id, "ticket.started", now, {"ticket": t.number, "ticket_id": t.id, "service": t.service,
                                          "window": number})
    window_event(tx, h, wcfg.number, state, now, ticket=t.number)
    return {"ticket": ticket_brief(h, t, status="serving")}


def finish(tx: Tx, h: HallRuntime, number: str, actor: Actor | None, rating: int | None = None) -> dict[str, Any]:
    wcfg, row = load_window(tx, h, number, actor)
    state = next_state("finish", row.state)
    now = h.now()
    t = _finish_current(tx, h, row, wcfg, now, rating)
    followup.open_for_rating(tx, h, now, t, rating, clerk=row.clerk)  # 差评回访 (#7); None for a good rating
    repo.set_window(tx.conn, h.id, number, state=state, ticket_id=None, updated_ms=ms(now))
    h.forget("open_windows")  # a window became free or busy: estimates count free ones
    window_event(tx, h, wcfg.number, state, now)
    return {"ticket": ticket_brief(h, t, status="finished")}


def transfer(tx: Tx, h: HallRuntime, number: str, actor: Actor | None, service: str) -> dict[str, Any]:
    """Send the visitor to another service; the ticket keeps its number and original queue time."""
    wcfg, row = load_window(tx, h, number, actor)
    state = next_state("transfer", row.state)
    target = h.cfg.service(service)
    if target is None:
        raise unknown_service(service)
    t = _current(tx, h, row)
    if target.code == t.service:
        raise Conflict("不能转办到同一业务", "cannot transfer to the same service", code="same_service")
    if t.person_hash and holds_active(tx.conn, h.id, target.code, t.person_hash):
        raise already_waiting(target.name)
    now = h.now()
    repo.set_ticket(tx.conn, h.id, t.id, status="waiting", service=target.code, priority="transferred",
                    window=None, overtaken=0, transfers=t.transfers + 1, called_ms=None, started_ms=None)
    repo.set_window(tx.conn, h.id, number, state=state, ticket_id=None, updated_ms=ms(now))
    h.forget("open_windows")  # a window became free or busy: estimates count free ones
    tx.emit(h.id, "ticket.transferred", now, {
        "ticket": t.number, "ticket_id": t.id, "service": target.code, "from_service": t.service,
        "window": number, "waiting": repo.waiting_in(tx.conn, h.id, target.code),
    })
    window_event(tx, h, wcfg.number, state, now)
    return {"ticket": ticket_brief(h, t, status="waiting", service=target.code, window=None, called_at=None)}
