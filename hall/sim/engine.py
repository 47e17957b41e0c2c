"""One simulated day of one strategy, run through the real use cases on a real database.

A :class:`~hall.clock.ManualClock` is moved by a discrete-event loop (a heap of arrivals, call
outcomes, service ends, absences, openings and a tick every ``tick_s``). Visitors take tickets
with :func:`hall.queue.issuing.issue_ticket`; clerks call, start, finish and mark no-shows with
:mod:`hall.queue.calling`, sign in and out, pause and resume with :mod:`hall.windows.service`;
with the controller on (tidal + AB) every tick runs :func:`hall.windows.staffing.tick` and the
clerks carry out its decisions (open a tidal window, cover a post), stepping away with
``staffing.step_away`` (once ``staffing.cover_candidate`` says somebody could cover), taking a
window with ``staffing.cover``, and registering a standby clerk's break with
``staffing.register_leave``.

The agents below only decide *when* a person acts; what happens is the use case's business. All
figures are read back from the database afterwards (``hall.sim.metrics``), except what only the
simulator can know: the naive estimate at issue time and the minute-by-minute window samples.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event, select

from hall.clock import ManualClock
from hall.db.database import Database, Tx
from hall.db.models import ticket_t
from hall.errors import HallError
from hall.queue import calling, rating, repo
from hall.queue.issuing import IssueRequest, close_day, issue_ticket
from hall.runtime import Actor, HallRuntime
from hall.server import HallServer
from hall.sim.layouts import Layout
from hall.sim.params import SimParams
from hall.sim.scenario import Absence, Scenario, Visitor, hhmm_s
from hall.windows import service, staffing

log = logging.getLogger(__name__)

MANAGER = Actor("sim-manager", "manager")
AWAY_REASON = "临时离开"


def _fast_sqlite(dbapi_conn: Any, _record: Any) -> None:
    """A simulation needs no durability: skip the fsync of every commit (runs after the hall's own
    connect hook, which sets synchronous=FULL)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


def _capturing(tx: Tx, h: HallRuntime, fn: Callable[..., Any], *args: Any) -> tuple[Any, list[Any]]:
    """Run a use case and hand back, with its result, the events it appended (what a clerk's
    terminal would receive on the stream, e.g. ``post.cover_needed`` when A steps away)."""
    result = fn(tx, h, *args)
    return result, list(tx.events)


def _issue_fresh(tx: Tx, h: HallRuntime, req: IssueRequest) -> Any:
    """``issue_ticket`` with the estimate inputs read now rather than from the few-second cache.

    The cache expires by the machine's clock as well as the hall's; in a simulation hours of hall
    time pass in seconds, so whether an entry was still fresh would depend on how fast the machine
    ran, and the same seed would not always give the same estimates.
    """
    h.forget()
    return issue_ticket(tx, h, req)


@dataclass
class Clerk:
    name: str
    actor: Actor
    at: str | None = None  # the window they are signed in to (or cover)
    away: bool = False
    away_from: str | None = None  # the window to go back to
    pending_absence: Absence | None = None  # to start once the visitor at the window is done
    due_since: float | None = None  # when the pending absence was first due (the AB hold counts from then)
    held: bool = False  # this break was put off for cover at least once
    walking: tuple[str, str] | None = None  # ("open" | "cover", window) on the way
    requests: list[tuple[str, str]] = field(default_factory=list)  # asked while busy or away


@dataclass
class Win:
    number: str
    kind: str
    services: tuple[str, ...]  # configured
    serving: tuple[str, ...]  # what it calls for now (a tidal window: what it took)
    clerk: str | None = None
    paused: bool = False
    open: bool = False  # signed in (state != closed)
    visitor: Visitor | None = None
    token: int = 0  # invalidates scheduled visitor events after a change of hands
    closing: bool = False  # tidal: finish the visitor, then sign out
    tidal_open: bool = False
    handover_to: str | None = None  # A is back and waits for B to finish the visitor
    ticket_id: str | None = None  # the ticket of the visitor at the counter


@dataclass
class Issued:
    visitor: Visitor
    ticket_id: str
    issued_s: float
    ahead: int
    est_wait_s: int
    naive_s: float
    open_windows: int


@dataclass
class Sample:
    """What the windows looked like at one tick (from the database)."""

    t: float
    signed_in: int
    attended: int
    vacant: list[str]  # expected posts with nobody there


class DayRun:
    """Run ``layout`` on ``scenario``; :meth:`run` returns the raw material for the metrics."""

    def __init__(self, layout: Layout, scenario: Scenario, params: SimParams, workdir: Path,
                 progress: Callable[[str], None] | None = None, database_url: str | None = None) -> None:
        """``database_url``: run on that database (``hall simulate --record``: the day is stored as if
        it had happened, its events continuing the hall's log); default a SQLite file in ``workdir``."""
        self.layout, self.sc, self.p = layout, scenario, params
        self.cfg = layout.cfg
        self.progress = progress or (lambda _msg: None)
        self.midnight = datetime.combine(scenario.day, time(0), tzinfo=self.cfg.tz)
        first = scenario.spans[0][0] if scenario.spans else 8 * 3600.0
        self.clock = ManualClock(self.midnight + timedelta(seconds=first - 1800))
        workdir.mkdir(parents=True, exist_ok=True)
        self.db = Database(database_url or f"sqlite:///{workdir / (layout.name + '.db')}")
        if self.db.is_sqlite:
            event.listen(self.db.engine, "connect", _fast_sqlite)
        self.server = HallServer.build(self.db, [self.cfg], self.clock, b"hall-simulate")
        self.server.prepare()
        self.h = self.server.halls[self.cfg.id]
        self.rng = random.Random(f"hall-sim/{scenario.seed}/agents/{layout.name}")
        # 好差评 on the pad after the service: its own stream, so ratings change nothing else drawn
        self.rating_rng = random.Random(f"hall-sim/{scenario.seed}/ratings/{layout.name}")
        self.heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.now_s = first - 1800
        self.clerks = {c: Clerk(c, Actor(c, "clerk", self.cfg.id)) for c in layout.staff}
        self.wins = {w.number: Win(w.number, w.kind, tuple(w.services),
                                   () if w.kind == "tidal" and layout.controller else tuple(w.services))
                     for w in self.cfg.windows}
        self.order = [w.number for w in self.cfg.windows]
        self.by_ticket: dict[str, Issued] = {}
        self.waiting = 0  # tickets issued and not yet called (to know when the day is over)
        self.samples: list[Sample] = []
        self.decisions: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.in_span = False
        self.day_over = False
        self.breaks_held = 0  # AB practice: breaks put off because B could not come
        self.held_s = 0.0
        self.away_s = 0.0  # time clerks actually spent away in the opening hours
        self.end_s = hhmm_s(params.end_by)
        self.expired = 0  # tickets still waiting at the end of the day

    # ------------------------------------------------------------------ plumbing
    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (t, self._seq, fn, args))

    def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.db.write_sync(fn, self.h, *args)

    def write_and_listen(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A use case whose events people react to: B is told to cover at once, not at the next tick."""
        result, events = self.db.write_sync(_capturing, self.h, fn, *args)
        for e in events:
            if e.type == "post.cover_needed":
                data = msgspec.json.decode(e.envelope)["data"]
                # delivered after the acting clerk's own step is done, as a message would be
                self.at(self.now_s, self.decide, {"kind": "post", "action": "cover_needed",
                                                  "window": data["window"],
                                                  "clerk": data.get("asked") or data.get("b")})
        return result

    def try_write(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A use case a person may find refused (someone was quicker): counted, not fatal."""
        try:
            return self.write_and_listen(fn, *args)
        except HallError as e:
            self.rejected[f"{what}:{getattr(e, 'code', type(e).__name__)}"] += 1
            log.debug("%s %s refused %s: %s %s", self._hhmm(self.now_s), self.layout.name, what, e, args)
            return None

    # ------------------------------------------------------------------ the loop
    def run(self) -> DayRun:
        self._schedule_day()
        last_report = 0.0
        while self.heap:
            t, _, fn, args = heapq.heappop(self.heap)
            if t > self.end_s:
                break
            if t > self.now_s:
                self.now_s = t
                self.clock.set(self.midnight + timedelta(seconds=t))
            fn(*args)
            if self.day_over:
                break
            if t - last_report >= 3600:
                last_report = t
                self.progress(f"{self.layout.name} {self._hhmm(t)}")
        self.clock.set(self.midnight + timedelta(seconds=max(self.now_s, self.sc.spans[-1][1])))
        self.expired = self.write(close_day)
        return self

    def close(self) -> None:
        self.server.db.close()

    def iso_hour(self, at_ms: int) -> int:
        """The local hour of a stored instant."""
        return int((at_ms / 1000 - self.midnight.timestamp()) // 3600)

    def _hhmm(self, t: float) -> str:
        return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}"

    def _schedule_day(self) -> None:
        if self.layout.controller:
            self.clock.set(self.midnight + timedelta(seconds=self.now_s))
            for c in self.layout.leave:
                day0 = self.midnight.isoformat()
                day1 = (self.midnight + timedelta(days=1)).isoformat()
                self.try_write("leave", staffing.register_leave, MANAGER, c, day0, day1, "全天请假")
        for i, (a, b) in enumerate(self.sc.spans):
            self.at(a, self.span_start, i)
            self.at(b, self.span_end, i)
        for v in self.sc.visitors:
            self.at(v.issue_s, self.arrive, v)
        for ab in self.sc.absences:
            if ab.clerk in self.clerks:
                self.at(ab.start_s, self.absence_start, ab)
        self.at(self.sc.spans[0][0], self.tick)

    # ------------------------------------------------------------------ opening hours
    def span_start(self, _i: int) -> None:
        self.in_span = True
        for number, name in self.layout.seats.items():
            c = self.clerks[name]
            if c.away or c.at or c.walking:
                continue  # the controller will notice the empty post and ask its B
            self.sign_in(c, self.wins[number])

    def span_end(self, i: int) -> None:
        self.in_span = False
        for number in self.order:
            w = self.wins[number]
            if w.clerk and w.visitor is None and not w.paused:
                self.settle(w)

    def _finished_for_now(self, w: Win) -> bool:
        """Outside the opening hours a regular window closes once nobody waits for it; a tidal
        window closes when the controller says so (without one: like a regular window)."""
        return not self.in_span and not (w.kind == "tidal" and self.layout.controller and w.tidal_open)

    # ------------------------------------------------------------------ visitors
    def arrive(self, v: Visitor) -> None:
        open_here = [w for w in self.wins.values()
                     if w.clerk and not w.paused and v.service in w.serving]
        req = IssueRequest(service=v.service, channel="walk_in", priority="green" if v.green else "normal")
        r = self.write(_issue_fresh, req).body
        svc = self.cfg.service(v.service)
        naive = r["ahead"] * svc.service_min * 60.0 / max(1, len(open_here))
        self.by_ticket[r["id"]] = Issued(v, r["id"], self.now_s, r["ahead"], r["est_wait_s"], naive,
                                         len(open_here))
        self.waiting += 1
        for number in self.order:
            w = self.wins[number]
            if (w.clerk and not w.paused and w.visitor is None and v.service in w.serving
                    and w.handover_to is None and not w.closing and self.try_call(w)):
                break

    def try_call(self, w: Win) -> bool:
        if w.clerk is None or w.paused or w.visitor is not None:
            return False
        c = self.clerks[w.clerk]
        r = self.try_write("call_next", calling.call_next, w.number, c.actor)
        if not r:
            return False
        iss = self.by_ticket[r["id"]]
        self.waiting -= 1
        w.visitor = iss.visitor
        w.ticket_id = r["id"]
        w.token += 1
        v = iss.visitor
        if v.no_show:
            self.at(self.now_s + self.p.recall_after_s, self.recall, w, w.token)
            self.at(self.now_s + self.p.no_show_after_s, self.missed, w, w.token)
        else:
            self.at(self.now_s + v.walk_s, self.start, w, w.token)
        return True

    def _same(self, w: Win, token: int) -> bool:
        return w.token == token and w.visitor is not None and w.clerk is not None

    def recall(self, w: Win, token: int) -> None:
        if self._same(w, token):
            self.try_write("recall", calling.recall, w.number, self.clerks[w.clerk].actor)

    def missed(self, w: Win, token: int) -> None:
        if self._same(w, token):
            self.try_write("no_show", calling.no_show, w.number, self.clerks[w.clerk].actor)
            w.visitor = None
            self.settle(w)

    def start(self, w: Win, token: int) -> None:
        if self._same(w, token):
            self.try_write("start", calling.start, w.number, self.clerks[w.clerk].actor)
            self.at(self.now_s + w.visitor.service_s, self.finish, w, token)

    def finish(self, w: Win, token: int) -> None:
        if self._same(w, token):
            self.try_write("finish", calling.finish, w.number, self.clerks[w.clerk].actor)
            w.visitor = None
            self.rate(w.ticket_id)
            self.settle(w)

    def rate(self, ticket_id: str | None) -> None:
        """Some visitors rate the service on the pad (好差评) as they leave; never in the clerk's way."""
        if ticket_id is None or self.rating_rng.random() >= self.p.rating_share:
            return
        levels = sorted(self.p.rating_weights)
        level = self.rating_rng.choices(levels, weights=[self.p.rating_weights[x] for x in levels])[0]
        self.try_write("rate", rating.rate, ticket_id, level)

    # ------------------------------------------------------------------ a window between visitors
    def settle(self, w: Win) -> None:
        """The window has a clerk and nobody at the counter: what does the clerk do next?"""
        if w.clerk is None or w.visitor is not None:
            return
        c = self.clerks[w.clerk]
        if w.handover_to is not None:
            a = self.clerks[w.handover_to]
            w.handover_to = None
            self.take_back(a, w)
            return
        if c.pending_absence is not None and not self._covering(c):
            ab, since = c.pending_absence, c.due_since
            c.pending_absence = c.due_since = None
            self.absence_start(ab, since)  # the AB hold is checked again: leaves, or is held a while
            if c.away or c.at != w.number:
                return
        if w.closing:
            self.sign_out(c, w)
            return
        if w.paused:
            return
        if self.try_call(w):
            return
        if self._finished_for_now(w):
            self.sign_out(c, w)

    def _covering(self, c: Clerk) -> bool:
        """Covering somebody else's post: as its B, or as a standby clerk at a regular window."""
        if c.at is None:
            return False
        wcfg = self.cfg.window(c.at)
        post = wcfg.post
        return post is not None and post.a != c.name and (post.b == c.name or wcfg.kind != "tidal")

    def sign_in(self, c: Clerk, w: Win) -> bool:
        if self.try_write("sign_in", service.sign_in, w.number, c.actor) is None:
            return False
        c.at, w.clerk, w.open, w.paused, w.closing = w.number, c.name, True, False, False
        self.settle(w)
        return True

    def sign_out(self, c: Clerk, w: Win) -> None:
        if w.paused:
            self.try_write("resume", service.resume, w.number, c.actor)
            w.paused = False
        self.try_write("sign_out", service.sign_out, w.number, c.actor)
        c.at, w.clerk, w.open, w.closing = None, None, False, False
        self.free(c)

    # ------------------------------------------------------------------ absences
    def b_can_come(self, c: Clerk) -> bool:
        """Whether somebody could cover the post ``c`` sits at if ``c`` stepped away now (AB
        practice: A waits for cover rather than leave the post empty). The clerk's terminal shows
        it: ``staffing.cover_candidate``, B or an available standby clerk."""
        if c.at is None:
            return True
        post = self.cfg.window(c.at).post
        if post is None or post.a != c.name:
            return True  # covering or at a tidal window: the hold is about one's own post
        who = self.db.read_sync(staffing.cover_candidate, self.h, c.at, self.h.now(), c.name)
        return who is not None

    def absence_start(self, ab: Absence, held_since: float | None = None) -> None:
        c = self.clerks[ab.clerk]
        if not self.in_span:
            return
        if c.away:  # still out from a break that was put off: this one follows on their return
            c.pending_absence = ab
            return
        if self._hold(c, ab, held_since):
            return
        if c.at is not None:
            w = self.wins[c.at]
            if w.visitor is not None or self._covering(c) or w.handover_to is not None:
                c.pending_absence = ab  # finishes the visitor (or the cover) first
                c.due_since = held_since if held_since is not None else self.now_s
                return
            self.leave(c, ab)
        elif c.walking is not None:
            c.pending_absence = ab
        else:
            self.leave(c, ab)

    def _hold(self, c: Clerk, ab: Absence, held_since: float | None) -> bool:
        """AB practice (tidal + AB): A does not step away while nobody could cover; A asks again in
        a minute, for at most ``ab_hold_max_min`` after the break was due and only while the whole
        break still fits in the opening hours (the break is put off, not lost). True: held."""
        hold_s = self.p.ab_hold_max_min * 60.0
        if not self.layout.controller or hold_s <= 0 or c.at is None:
            return False
        since = held_since if held_since is not None else self.now_s
        # not so long that the break no longer fits before the hours end: it is put off, not cut
        span_end = next((b for a, b in self.sc.spans if a <= self.now_s < b), self.now_s)
        deadline = min(since + hold_s, span_end - ab.duration_s)
        if self.now_s >= deadline or self.b_can_come(c):
            return False
        if not c.held:
            c.held = True
            self.breaks_held += 1
        self.held_s += 60.0
        self.at(self.now_s + 60.0, self.absence_start, ab, since)
        return True

    def leave(self, c: Clerk, ab: Absence) -> bool:
        """The clerk goes; a break put off past the opening hours is dropped (returns False)."""
        c.pending_absence = c.due_since = None
        c.held = False
        if not self.in_span:
            return False
        c.away = True
        span_end = next((b for a, b in self.sc.spans if a <= self.now_s < b), self.now_s)
        self.away_s += max(0.0, min(self.now_s + ab.duration_s, span_end) - self.now_s)
        if c.at is None and self.layout.controller:
            # a standby clerk registers the break (离岗登记) so the controller does not send for them
            start = self.h.now()
            end = start + timedelta(seconds=ab.duration_s)
            self.try_write("break", staffing.register_leave, c.actor, c.name, start.isoformat(), end.isoformat(),
                           AWAY_REASON)
        if c.at is not None:
            w = self.wins[c.at]
            c.away_from = w.number
            if self.layout.controller:
                self.try_write("step_away", staffing.step_away, w.number, c.actor, AWAY_REASON)
                w.clerk = None
                c.at = None
            else:
                self.try_write("pause", service.pause, w.number, c.actor, AWAY_REASON)
                w.paused = True
        self.at(self.now_s + ab.duration_s, self.come_back, c)
        return True

    def come_back(self, c: Clerk) -> None:
        c.away = False
        number, c.away_from = c.away_from, None
        if number is None:
            self.free(c)
            return
        w = self.wins[number]
        if not self.layout.controller:  # dedicated / pooled: the window waited, paused
            if w.clerk == c.name and w.paused:
                self.try_write("resume", service.resume, w.number, c.actor)
                w.paused = False
                self.settle(w)
            return
        if w.kind == "tidal" and not w.tidal_open:
            self.free(c)  # the tidal window was closed meanwhile: back to standby
            return
        if w.clerk is None or w.visitor is None:
            self.take_back(c, w)
        else:
            w.handover_to = c.name  # B finishes the visitor, then hands over

    def take_back(self, a: Clerk, w: Win) -> None:
        """A is back: ``cover`` by A takes the window from B (or from nobody)."""
        relieved = w.clerk
        if self.try_write("cover_back", staffing.cover, w.number, a.actor) is None:
            self.free(a)
            return
        if relieved and relieved != a.name:
            b = self.clerks.get(relieved)
            if b is not None:
                b.at = None
                self.free(b)
        a.at, w.clerk, w.open = w.number, a.name, True
        self.settle(w)

    # ------------------------------------------------------------------ standby clerks
    def free(self, c: Clerk) -> None:
        """The clerk is on standby now: a postponed absence first, then whatever they were asked."""
        if c.away or c.at is not None or c.walking is not None:
            return
        if c.pending_absence is not None and self.leave(c, c.pending_absence):
            return
        while c.requests:
            kind, number = c.requests.pop(0)
            w = self.wins[number]
            if w.clerk is not None or not self.in_span:
                continue
            if kind == "open" and not w.tidal_open:
                continue
            lo, hi = self.p.open_walk_s if kind == "open" else self.p.cover_reaction_s
            c.walking = (kind, number)
            self.at(self.now_s + self.rng.uniform(lo, hi), self.reach, c, kind, w)
            return

    def reach(self, c: Clerk, kind: str, w: Win) -> None:
        c.walking = None
        usable = self.in_span and w.clerk is None and (kind == "cover" or w.tidal_open)
        if usable and kind == "open" and w.open:
            kind = "cover"  # its clerk stepped away meanwhile: the window is taken over, not signed in to
        if usable and kind == "open":
            if self.sign_in(c, w):
                return
        elif usable and self.try_write("cover", staffing.cover, w.number, c.actor) is not None:
            c.at, w.clerk, w.open = w.number, c.name, True
            self.settle(w)
            return
        self.free(c)

    # ------------------------------------------------------------------ the controller and sampling
    def tick(self) -> None:
        if self.layout.controller:
            for d in self.write(staffing.tick):
                self.decide(d)
        self.sample()
        if not self.in_span and self.now_s >= self.sc.spans[-1][1] and self.waiting <= 0 and not any(
                w.open or w.visitor or w.tidal_open for w in self.wins.values()):
            self.day_over = True
            return
        self.at(self.now_s + self.p.tick_s, self.tick)

    def decide(self, d: dict[str, Any]) -> None:
        self.decisions[f"{d['kind']}.{d['action']}"] += 1
        number = d.get("window")
        w = self.wins.get(number) if number else None
        if d["kind"] == "tidal" and w is not None:
            if d["action"] == "reassign":  # the named clerk did not come: another one is sent
                c = self.clerks.get(d.get("clerk") or "")
                if c is not None and w.tidal_open:
                    c.requests.append(("open", w.number))
                    self.free(c)
            elif d["action"] in ("open", "take"):
                w.tidal_open = True
                w.serving = tuple(d.get("services") or w.services)
                if d["action"] == "open":
                    c = self.clerks.get(d.get("clerk") or "")
                    if c is not None:
                        c.requests.append(("open", w.number))
                        self.free(c)
                elif w.clerk and w.visitor is None:
                    self.settle(w)
            elif d["action"] == "close":
                w.tidal_open = False
                w.serving = ()
                if w.clerk is not None and w.visitor is not None:
                    w.closing = True  # finishes the visitor, then signs out
                elif w.clerk is not None:  # the controller has already sent the clerk back
                    c = self.clerks[w.clerk]
                    c.at, w.clerk, w.open, w.paused = None, None, False, False
                    self.free(c)
                else:
                    w.open = False
        elif d["kind"] == "post" and d["action"] == "cover_needed" and w is not None:
            c = self.clerks.get(d.get("clerk") or "")
            if c is not None:
                c.requests.append(("cover", w.number))
                self.free(c)

    def sample(self) -> None:
        """The windows as the database has them now; expected posts with nobody at them."""
        rows = self.db.read_sync(repo.window_rows, self.h.id)
        local = self.h.now()
        signed = attended = 0
        vacant: list[str] = []
        for r in rows:
            wcfg = self.cfg.window(r.window)
            if wcfg is None:
                continue
            is_open = r.state != "closed"
            here = is_open and r.clerk is not None and r.state != "paused"
            signed += is_open
            attended += here
            if wcfg.kind == "tidal" and self.layout.controller:
                expected = bool(r.tidal_open)
            else:
                expected = self.layout.seats.get(r.window) is not None and any(
                    self.cfg.service(s).open_at(local) for s in wcfg.services)
            if expected and not here:
                vacant.append(r.window)
            w = self.wins[r.window]
            if w.clerk is not None and r.clerk is None and w.visitor is None and not w.paused:
                # released by the controller behind our back (a tidal window closed while idle)
                c = self.clerks[w.clerk]
                c.at, w.clerk, w.open = None, None, False
                self.free(c)
            w.open = is_open
        self.samples.append(Sample(self.now_s, signed, attended, sorted(vacant)))

    # ------------------------------------------------------------------ results
    def tickets(self) -> list[Any]:
        cols = (ticket_t.c.id, ticket_t.c.service, ticket_t.c.priority, ticket_t.c.status, ticket_t.c.issued_ms,
                ticket_t.c.called_ms, ticket_t.c.started_ms, ticket_t.c.finished_ms, ticket_t.c.no_show_ms,
                ticket_t.c.window)
        return self.db.read_sync(
            lambda conn: list(conn.execute(select(*cols).where(ticket_t.c.hall_id == self.h.id,
                                                               ticket_t.c.day == self.sc.day.isoformat())
                                           .order_by(ticket_t.c.issued_ms, ticket_t.c.qseq))))
