"""A hypothesis state machine over the real queue use cases on a real SQLite database.

Every example gets a fresh hall (a copy of a template database that already holds the staff
accounts) with a tight calling policy, so the overtake bound and the priority interleave are reached
in a few steps. Beside it runs a model: each ticket's status, service, class, queue time and
overtake count, and each window's state, clerk, current ticket and priority streak. The model
predicts, for every action, whether it is allowed and what it does (for call-next: which ticket the
pure policy picks from the *whole* queue) or which domain error it must raise; the real code must
agree. After every step the database is compared with the model and the invariants are checked;
at the end the day is closed and the event log is replayed per ticket and per window.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from hall.bootstrap import Hall, build
from hall.clock import ManualClock
from hall.db.models import event_t, hall_t, ticket_t, window_t
from hall.errors import HallError
from hall.hallconfig import default_config_path, load_hall_config
from hall.queue import calling, issuing, repo
from hall.queue.issuing import IssueRequest
from hall.queue.policy import CallingPolicy, Choice, Waiting, ahead_of, choose_next, passed_over
from hall.runtime import Actor, ms
from hall.settings import get_settings
from hall.windows import service as windows_uc
from tests.conftest import MONDAY_0930, add_staff

# --------------------------------------------------------------------------- the hall under test

_BASE = load_hall_config(default_config_path())
CFG = _BASE.model_copy(update={
    # small bounds and boosts, so overtakes, interleaving and aging all happen within a few steps
    "calling": _BASE.calling.model_copy(update={
        "boost_s": {"green": 600, "appointment": 450, "transferred": 300, "normal": 0},
        "max_overtakes": 2,
        "max_priority_streak": 1,
        "no_show_grace_min": 10,
    }),
    "ankang": _BASE.ankang.model_copy(update={"mode": "off"}),  # no stand-in server per example
})
HALL = CFG.id
POLICY = CallingPolicy(boost_s=dict(CFG.calling.boost_s), max_priority_streak=CFG.calling.max_priority_streak,
                       max_overtakes=CFG.calling.max_overtakes)
GRACE_MS = CFG.calling.no_show_grace_min * 60_000

WINDOWS = ("1", "5", "6", "9", "10")  # all services; BDC+SW; SB+YB+GJJ; priority (all); HJ
WIN_SERVICES = {w: frozenset(CFG.window(w).services) for w in WINDOWS}
PRIORITY_WINDOWS = {w for w in WINDOWS if CFG.window(w).kind == "priority"}
SERVICES = ("SB", "YB", "BDC", "SW", "HJ")
PREFIX = {s.code: s.prefix for s in CFG.services}
CLERKS = ("clerk01", "clerk02", "clerk03", "clerk04", "clerk05", "clerk06")
MANAGER = Actor("manager01", "manager", HALL)
PERSONS = ("p-1", "p-2", "p-3")

ACTIVE = ("waiting", "called", "serving")
FINAL = ("finished", "no_show", "expired")

# The window state machine of CONTRACT.md ("Window states and who may act"), written out
# independently of hall.windows.states.
ALLOWED = {
    "sign_out": {"idle": "closed", "paused": "closed"},
    "call": {"idle": "calling", "serving": "calling"},
    "recall": {"calling": "calling"},
    "no_show": {"calling": "idle"},
    "start": {"calling": "serving"},
    "finish": {"serving": "idle"},
    "transfer": {"serving": "idle"},
    "pause": {"idle": "paused"},
    "resume": {"paused": "idle"},
}

# How each ticket event moves a ticket (None: not yet issued); used to replay the log.
TICKET_EVENTS = {
    "ticket.issued": {None: "waiting"},
    "ticket.called": {"waiting": "called"},
    "ticket.recalled": {"called": "called"},  # a ticket.called event with recall > 0
    "ticket.started": {"called": "serving"},
    "ticket.finished": {"serving": "finished"},
    "ticket.no_show": {"called": "no_show"},
    "ticket.requeued": {"no_show": "waiting"},
    "ticket.transferred": {"serving": "waiting"},
    "ticket.expired": {"waiting": "expired", "called": "expired"},
}

WINDOW_STATE_OF_TICKET = {"calling": "called", "serving": "serving"}
# (called_ms, started_ms, finished_ms) set? by status; expired tickets may or may not have been called
STAMPS = {
    "waiting": (False, False, False),
    "called": (True, False, False),
    "serving": (True, True, False),
    "finished": (True, True, True),
    "no_show": (True, False, False),
}

Err = tuple[int, str] | None  # expected (status, code) of a HallError, or None for success


# --------------------------------------------------------------------------- the model

@dataclass
class MTicket:
    id: str
    number: str
    day: str
    origin: str
    service: str
    priority: str
    queued_ms: int
    qseq: int  # the model's own arrival order; only its order matters (the tie-break)
    person: str | None = None
    status: str = "waiting"
    window: str | None = None
    overtaken: int = 0
    recalls: int = 0
    rating: int | None = None
    no_show_ms: int | None = None

    def waiting(self) -> Waiting:
        return Waiting(self.id, self.service, self.priority, self.queued_ms, self.overtaken, self.qseq)


@dataclass
class MWindow:
    state: str = "closed"
    clerk: str | None = None
    ticket: str | None = None
    streak: int = 0


@dataclass
class Template:
    db_dir: Path | None = None
    work_dir: Path | None = None
    stats: Counter = field(default_factory=Counter)


TEMPLATE = Template()


def _settings(data_dir: Path) -> Any:
    return get_settings({"HALL_DATA_DIR": str(data_dir), "HALL_SECRET": "test-secret"})


# --------------------------------------------------------------------------- the machine

who_acts = st.sampled_from(["own", "own", "own", "own", "own", "other", "manager"])
window_numbers = st.sampled_from(WINDOWS)


class QueueMachine(RuleBasedStateMachine):
    issued = Bundle("issued")

    def __init__(self) -> None:
        super().__init__()
        assert TEMPLATE.db_dir is not None and TEMPLATE.work_dir is not None
        self.dir = Path(tempfile.mkdtemp(prefix="qm-", dir=TEMPLATE.work_dir))
        for f in TEMPLATE.db_dir.glob("hall.db*"):
            shutil.copy(f, self.dir / f.name)
        self.clock = ManualClock(MONDAY_0930)
        self.hall: Hall = build(halls=[CFG], settings=_settings(self.dir), clock=self.clock)
        self.db = self.hall.server.db
        self.h = self.hall.server.halls[HALL]
        self.tickets: dict[str, MTicket] = {}
        self.windows = {w: MWindow() for w in WINDOWS}
        self.arrivals = 0
        self.days = 0
        self.counters: Counter[tuple[str, str]] = Counter()  # (service, day) -> last number

    # -- helpers ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return ms(self.clock.now())

    def run(self, expected: Err, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a use case in a write transaction; it must succeed, or raise exactly ``expected``."""
        if expected is None:
            return self.db.write_sync(fn, self.h, *args)
        with pytest.raises(HallError) as info:
            self.db.write_sync(fn, self.h, *args)
        got = (info.value.status, info.value.code)
        assert got == expected, f"{fn.__name__}{args!r}: expected {expected}, got {got}: {info.value}"
        TEMPLATE.stats[f"refused {fn.__name__} {expected[1]}"] += 1
        return None

    def actor(self, window: str, who: str) -> Actor:
        if who == "manager":
            return MANAGER
        clerk = self.windows[window].clerk
        if who == "own":
            return Actor(clerk or CLERKS[0], "clerk", HALL)
        return Actor(next(c for c in CLERKS if c != clerk), "clerk", HALL)

    def window_error(self, window: str, actor: Actor, action: str) -> Err:
        """403 unless the actor is the window's clerk or a supervisor; then 409 if the state forbids it."""
        mw = self.windows[window]
        if not actor.is_supervisor and actor.username != mw.clerk:
            return (403, "not_your_window")
        if mw.state not in ALLOWED[action]:
            return (409, "window_state")
        return None

    def queue(self) -> list[Waiting]:
        return [t.waiting() for t in self.tickets.values() if t.status == "waiting"]

    def holds_active(self, person: str | None, service: str) -> bool:
        return person is not None and any(
            t.person == person and t.service == service and t.status in ACTIVE for t in self.tickets.values()
        )

    def finish_current(self, window: str, rating: int | None) -> None:
        mw = self.windows[window]
        t = self.tickets[mw.ticket]
        assert t.status == "serving"
        t.status, t.rating = "finished", rating

    def called(self, window: str, ticket_id: str, streak: int) -> None:
        mw = self.windows[window]
        if mw.state == "serving":
            self.finish_current(window, None)
        t = self.tickets[ticket_id]
        t.status, t.window = "called", window
        mw.state, mw.ticket, mw.streak = "calling", ticket_id, streak

    def check_brief(self, brief: dict[str, Any], t: MTicket) -> None:
        assert brief["id"] == t.id and brief["number"] == t.number
        assert brief["status"] == t.status and brief["window"] == t.window and brief["service"] == t.service

    # -- the morning: some windows open, some visitors already there ----------------------------

    @initialize(opened=st.sets(window_numbers, min_size=1))
    def open_windows(self, opened: set[str]) -> None:
        for i, window in enumerate(sorted(opened)):
            self.sign_in(window, CLERKS[i])

    @initialize(target=issued, first=st.lists(
        st.tuples(st.sampled_from(SERVICES), st.sampled_from(["normal", "normal", "green"]),
                  st.sampled_from([0, 0, 30, 400])), max_size=12))
    def morning_queue(self, first: list[tuple[str, str, int]]) -> Any:
        ids = []
        for service, priority, gap_s in first:
            self.clock.advance(gap_s)
            ids.append(self.issue(service, priority, None))
        return multiple(*ids)

    # -- rules: visitors ------------------------------------------------------------------------

    @rule(target=issued, service=st.sampled_from(SERVICES),
          priority=st.sampled_from(["normal", "normal", "normal", "green"]),
          person=st.none() | st.sampled_from(PERSONS))
    def issue(self, service: str, priority: str, person: str | None) -> Any:
        req = IssueRequest(service=service, channel="walk_in", priority=priority, person_hash=person)
        if self.holds_active(person, service):
            self.run((409, "already_waiting"), issuing.issue_ticket, req)
            return multiple()
        issued = self.run(None, issuing.issue_ticket, req)
        body = issued.body
        assert issued.status == 201 and not issued.replayed
        day = self.today()
        self.counters[(service, day)] += 1
        number = f"{PREFIX[service]}{self.counters[(service, day)]:03d}"
        assert (body["number"], body["service"], body["status"], body["priority"]) == (
            number, service, "waiting", priority)
        self.arrivals += 1
        t = MTicket(body["id"], number, day, service, service, priority, self.now_ms(), self.arrivals, person)
        # "N ahead of you" is what the policy would call first, among the same service's queue
        ahead = ahead_of(t.waiting(), self.queue(), POLICY)
        assert body["ahead"] == ahead
        # No wait is predicted exactly when a window that serves the service is free for this ticket.
        assert (body["est_wait_s"] == 0) == (ahead < self.free_windows_for(service))
        self.tickets[t.id] = t
        return t.id

    def free_windows_for(self, service: str) -> int:
        """Windows free to call a new ticket of ``service`` now, as the estimate counts them: the idle
        ones among the staffed; with none staffed, the hall's regular windows are assumed (one)."""
        serving = [w for n, w in self.windows.items() if service in CFG.window(n).services]
        if any(w.state in ("idle", "calling", "serving") for w in serving):
            return sum(1 for w in serving if w.state == "idle")
        return 0 if any(w.state == "paused" for w in serving) else 1

    @rule(target=issued, crowd=st.lists(st.tuples(st.sampled_from(SERVICES), st.sampled_from(["normal", "green"]),
                                                 st.sampled_from([0, 1, 60])), min_size=2, max_size=5))
    def crowd_arrives(self, crowd: list[tuple[str, str, int]]) -> Any:
        ids = []
        for service, priority, gap_s in crowd:
            self.clock.advance(gap_s)
            ids.append(self.issue(service, priority, None))
        return multiple(*ids)

    @rule(ticket_id=issued)
    def requeue(self, ticket_id: str) -> None:
        t = self.tickets[ticket_id]
        now = self.now_ms()
        if t.status != "no_show":
            expected: Err = (409, "ticket_state")
        elif now - t.no_show_ms > GRACE_MS:
            expected = (409, "grace_expired")
        elif self.holds_active(t.person, t.service):
            expected = (409, "already_waiting")
        else:
            expected = None
        out = self.run(expected, issuing.requeue, ticket_id)
        if expected is None:
            assert out == {"id": t.id, "number": t.number, "status": "waiting"}
            self.arrivals += 1
            t.status, t.window, t.overtaken, t.queued_ms, t.qseq = "waiting", None, 0, now, self.arrivals
            TEMPLATE.stats["requeued"] += 1

    @precondition(lambda self: any(t.status == "no_show" for t in self.tickets.values()))
    @rule(pick=st.integers(0, 1000))
    def missed_visitor_returns(self, pick: int) -> None:
        missed = sorted((t.no_show_ms, t.id) for t in self.tickets.values() if t.status == "no_show")
        self.requeue(missed[pick % len(missed)][1])

    @rule(seconds=st.sampled_from([1, 20, 90, 300, 600, 601, 1800]))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # -- rules: windows -------------------------------------------------------------------------

    @rule(window=window_numbers, clerk=st.sampled_from(CLERKS))
    def sign_in(self, window: str, clerk: str) -> None:
        mw = self.windows[window]
        if mw.state != "closed":
            expected: Err = None if mw.clerk == clerk else (409, "window_taken")
        elif any(x.clerk == clerk and x.state != "closed" for x in self.windows.values()):
            expected = (409, "signed_in_elsewhere")
        else:
            expected = None
            mw.state, mw.clerk, mw.ticket, mw.streak = "idle", clerk, None, 0
        view = self.run(expected, windows_uc.sign_in, window, Actor(clerk, "clerk", HALL))
        if expected is None:
            assert view["state"] == mw.state and view["post"]["on_duty"] == clerk
            assert view["clerk"]["staff_no"]  # the staff account's number, from the staff table

    def sign_out(self, window: str, who: str) -> None:
        actor = self.actor(window, who)
        expected = self.window_error(window, actor, "sign_out")
        view = self.run(expected, windows_uc.sign_out, window, actor)
        if expected is None:
            mw = self.windows[window]
            mw.state, mw.clerk = "closed", None
            assert view["state"] == "closed" and view["clerk"] is None

    def pause(self, window: str, who: str, reason: str) -> None:
        actor = self.actor(window, who)
        expected = (400, "reason_required") if not reason.strip() else self.window_error(window, actor, "pause")
        view = self.run(expected, windows_uc.pause, window, actor, reason)
        if expected is None:
            self.windows[window].state = "paused"
            assert view["state"] == "paused" and view["pause_reason"] == reason.strip()[:200]

    def resume(self, window: str, who: str) -> None:
        actor = self.actor(window, who)
        expected = self.window_error(window, actor, "resume")
        view = self.run(expected, windows_uc.resume, window, actor)
        if expected is None:
            self.windows[window].state = "idle"
            assert view["state"] == "idle" and view["pause_reason"] is None

    def call_next(self, window: str, who: str) -> None:
        actor = self.actor(window, who)
        expected, choice = self.plan_call_next(window, actor)
        brief = self.run(expected, calling.call_next, window, actor)
        if expected is None:
            self.check_call_next(window, choice, brief)

    def plan_call_next(self, window: str, actor: Actor) -> tuple[Err, Choice | None]:
        """What call-next must do: refuse, call nobody, or call what the policy picks from the whole
        queue (with overtakes counted); the model is updated accordingly."""
        expected = self.window_error(window, actor, "call")
        if expected is not None:
            return expected, None
        mw = self.windows[window]
        services = WIN_SERVICES[window]
        waiting = self.queue()
        choice = choose_next(waiting, services, POLICY, streak=mw.streak, priority_window=window in PRIORITY_WINDOWS)
        if choice is not None:
            for tid in passed_over(waiting, services, choice.ticket):
                self.tickets[tid].overtaken += 1
            self.called(window, choice.ticket.id, choice.priority_streak)
        return None, choice

    def check_call_next(self, window: str, choice: Choice | None, brief: dict[str, Any] | None) -> None:
        if choice is None:
            assert brief is None, f"nobody waits for window {window}, yet it called {brief}"
            TEMPLATE.stats["call_next: nobody waits"] += 1
            return
        assert brief is not None and brief["id"] == choice.ticket.id, (
            f"window {window} called {brief and brief['number']}, the policy over the whole queue picks "
            f"{self.tickets[choice.ticket.id].number} ({choice.reason})")
        TEMPLATE.stats[f"call_next: {choice.reason}"] += 1
        self.check_brief(brief, self.tickets[choice.ticket.id])
        assert brief["called_at"] == self.h.iso(self.now_ms())

    @rule(ws=st.lists(window_numbers, min_size=2, max_size=len(WINDOWS), unique=True))
    def clerks_press_at_once(self, ws: list[str]) -> None:
        """Several windows press call-next in the same moment: the writer takes them as one batch (one
        transaction, a savepoint each); each gets its own ticket, refusals roll back alone."""
        actors = [self.actor(w, "own") for w in ws]
        futures = [self.db.submit(calling.call_next, self.h, w, a) for w, a in zip(ws, actors, strict=True)]
        for w, a, fut in zip(ws, actors, futures, strict=True):
            expected, choice = self.plan_call_next(w, a)  # the writer runs them in submission order
            exc = fut.exception()
            if expected is None:
                assert exc is None, f"call-next at {w}: {exc!r}"
                self.check_call_next(w, choice, fut.result())
            else:
                assert isinstance(exc, HallError) and (exc.status, exc.code) == expected, (w, expected, exc)
        TEMPLATE.stats["pressed at once"] += len(ws)

    @rule(window=window_numbers, who=who_acts, ticket_id=issued)
    def call_ticket(self, window: str, who: str, ticket_id: str) -> None:
        actor = self.actor(window, who)
        t = self.tickets[ticket_id]
        expected = self.window_error(window, actor, "call")
        if expected is None:
            if t.service not in WIN_SERVICES[window]:
                expected = (409, "wrong_service")
            elif t.status != "waiting":
                expected = (409, "ticket_state")
        brief = self.run(expected, calling.call_ticket, window, actor, ticket_id)
        if expected is None:
            self.called(window, ticket_id, self.windows[window].streak)  # an explicit call keeps the streak
            self.check_brief(brief, t)
            TEMPLATE.stats["call_ticket"] += 1

    def recall(self, window: str, who: str) -> None:
        actor = self.actor(window, who)
        expected = self.window_error(window, actor, "recall")
        out = self.run(expected, calling.recall, window, actor)
        if expected is None:
            t = self.tickets[self.windows[window].ticket]
            t.recalls += 1
            assert out["recall"] == t.recalls and out["ticket"]["id"] == t.id

    def no_show(self, window: str, who: str) -> None:
        actor = self.actor(window, who)
        expected = self.window_error(window, actor, "no_show")
        out = self.run(expected, calling.no_show, window, actor)
        if expected is None:
            mw = self.windows[window]
            t = self.tickets[mw.ticket]
            t.status, t.no_show_ms = "no_show", self.now_ms()
            mw.state, mw.ticket = "idle", None
            assert out["ticket"]["id"] == t.id and out["ticket"]["status"] == "no_show"

    def start(self, window: str, who: str) -> None:
        actor = self.actor(window, who)
        expected = self.window_error(window, actor, "start")
        out = self.run(expected, calling.start, window, actor)
        if expected is None:
            mw = self.windows[window]
            t = self.tickets[mw.ticket]
            t.status, mw.state = "serving", "serving"
            assert out["ticket"]["id"] == t.id and out["ticket"]["status"] == "serving"

    def finish(self, window: str, who: str, rating: int | None) -> None:
        actor = self.actor(window, who)
        expected = self.window_error(window, actor, "finish")
        out = self.run(expected, calling.finish, window, actor, rating)
        if expected is None:
            mw = self.windows[window]
            tid = mw.ticket
            self.finish_current(window, rating)
            mw.state, mw.ticket = "idle", None
            assert out["ticket"]["id"] == tid and out["ticket"]["status"] == "finished"

    def transfer(self, window: str, who: str, to: str) -> None:
        actor = self.actor(window, who)
        expected = self.window_error(window, actor, "transfer")
        mw = self.windows[window]
        if expected is None:
            t = self.tickets[mw.ticket]
            if to not in PREFIX:
                expected = (404, "unknown_service")
            elif to == t.service:
                expected = (409, "same_service")
            elif self.holds_active(t.person, to):
                expected = (409, "already_waiting")
        out = self.run(expected, calling.transfer, window, actor, to)
        if expected is None:
            t = self.tickets[mw.ticket]
            # keeps its number and its place by queue time; a fresh overtake count
            t.status, t.service, t.priority, t.window, t.overtaken = "waiting", to, "transferred", None, 0
            mw.state, mw.ticket = "idle", None
            assert out["ticket"]["id"] == t.id and out["ticket"]["service"] == to
            TEMPLATE.stats["transferred"] += 1

    # -- rules that drive the windows ------------------------------------------------------------

    @rule(action=st.sampled_from(["sign_out", "pause", "resume", "call_next", "recall", "no_show", "start",
                                  "finish", "transfer"]),
          window=window_numbers, who=who_acts, reason=st.sampled_from(["午休", " 系统故障 ", "", "   ", "长" * 250]),
          rating=st.none() | st.integers(1, 5), to=st.sampled_from([*SERVICES, "GJJ", "ZZ"]))
    def act(self, action: str, window: str, who: str, reason: str, rating: int | None, to: str) -> None:
        """Any window action, by anyone, in any state: allowed or refused as the model says."""
        extra = {"pause": (reason,), "finish": (rating,), "transfer": (to,)}.get(action, ())
        getattr(self, action)(window, who, *extra)

    work_args = dict(window=window_numbers, pick=st.integers(0, 3), rating=st.none() | st.integers(1, 5),
                     to=st.sampled_from(SERVICES))

    @rule(**work_args)
    def work(self, window: str, pick: int, rating: int | None, to: str) -> None:
        self.usual_step(window, pick, rating, to)

    @rule(picks=st.lists(st.integers(0, 3), min_size=len(WINDOWS), max_size=len(WINDOWS)),
          rating=st.none() | st.integers(1, 5), to=st.sampled_from(SERVICES))
    def every_window_works(self, picks: list[int], rating: int | None, to: str) -> None:
        for window, pick in zip(WINDOWS, picks, strict=True):
            self.usual_step(window, pick, rating, to)

    def usual_step(self, window: str, pick: int, rating: int | None, to: str) -> None:
        """The clerk's usual next step for the window's state (``act`` picks actions blindly)."""
        state = self.windows[window].state
        if state == "closed":
            busy = {w.clerk for w in self.windows.values()}
            self.sign_in(window, next(c for c in CLERKS if c not in busy))
        elif state == "idle":
            self.call_next(window, "own")
        elif state == "paused":
            self.resume(window, "own")
        elif state == "calling":
            (self.no_show if pick == 0 else self.start)(window, "own")
        elif pick == 0:
            self.transfer(window, "own", to)
        elif pick == 1:
            self.call_next(window, "own")
        else:
            self.finish(window, "own", rating)

    @precondition(lambda self: self.days == 0)
    @rule(how=st.sampled_from(["closed in the evening", "housekeeping in the morning", "nobody closed"]))
    def overnight(self, how: str) -> None:
        """The day ends (once per example): the end-of-day run closes it, even with windows still open;
        or nobody does and the start-up housekeeping closes the earlier days next morning; or nothing
        closes it. The next morning is 08:30."""
        self.days += 1
        if how == "closed in the evening":
            self._close_day()
        local = self.clock.now().astimezone(CFG.tz)
        self.clock.set((local + timedelta(days=1)).replace(hour=8, minute=30, second=0, microsecond=0))
        if how == "housekeeping in the morning":
            self._close_day(before_day=self.today())

    def today(self) -> str:
        return self.clock.now().astimezone(CFG.tz).date().isoformat()

    def _close_day(self, before_day: str | None = None) -> None:
        n = self.db.write_sync(issuing.close_day, self.h, before_day)
        expire = [t for t in self.tickets.values()
                  if t.status in ("waiting", "called") and (before_day is None or t.day < before_day)]
        assert n == len(expire)
        for t in expire:
            if t.status == "called":
                mw = self.windows[t.window]
                mw.state, mw.ticket = "idle", None
            t.status = "expired"
        TEMPLATE.stats["expired"] += n

    # -- invariants -----------------------------------------------------------------------------

    def read(self) -> tuple[list[Any], list[Any], list[Any], int]:
        def q(conn: Any) -> tuple[list[Any], list[Any], list[Any], int]:
            tickets = list(conn.execute(select(ticket_t).where(ticket_t.c.hall_id == HALL)))
            wins = list(conn.execute(select(window_t).where(window_t.c.hall_id == HALL)))
            events = list(conn.execute(
                select(event_t.c.seq, event_t.c.type, event_t.c.envelope)
                .where(event_t.c.hall_id == HALL).order_by(event_t.c.seq)))
            last = conn.execute(select(hall_t.c.seq).where(hall_t.c.id == HALL)).scalar_one()
            return tickets, wins, events, last
        return self.db.read_sync(q)

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        TEMPLATE.stats["checks"] += 1
        tickets, wins, events, last = self.read()

        # the waiting counts the database keeps (triggers, migration 0010) are the waiting tickets
        counted = self.db.read_sync(lambda conn: repo.waiting_counts(conn, HALL))
        assert counted == dict(Counter(r.service for r in tickets if r.status == "waiting"))

        # numbers: unique per (service, day), gap-free from 1, prefix + counter zero-padded to 3
        keys = [(r.origin_service, r.day, r.counter) for r in tickets]
        assert len(keys) == len(set(keys)), "duplicate ticket numbers"
        per_day: dict[tuple[str, str], list[int]] = defaultdict(list)
        for r in tickets:
            per_day[(r.origin_service, r.day)].append(r.counter)
            assert r.number == f"{PREFIX[r.origin_service]}{r.counter:03d}"
        for counters in per_day.values():
            assert sorted(counters) == list(range(1, len(counters) + 1)), "gaps in ticket numbers"

        # tickets as the model has them
        assert {r.id for r in tickets} == set(self.tickets)
        for r in tickets:
            m = self.tickets[r.id]
            got = (r.number, r.origin_service, r.service, r.priority, r.status, r.overtaken, r.recall_count)
            want = (m.number, m.origin, m.service, m.priority, m.status, m.overtaken, m.recalls)
            assert got == want, f"ticket {m.number}: database {got}, model {want}"
            if r.status in ACTIVE:
                assert (r.window, r.queued_ms) == (m.window, m.queued_ms), m.number
            if r.status == "finished":
                assert r.rating == m.rating
            # the timestamps fit the status
            stamps = (r.called_ms is not None, r.started_ms is not None, r.finished_ms is not None)
            assert stamps == STAMPS.get(r.status, stamps), f"{r.number} ({r.status}): {stamps}"
            if r.status == "finished" and r.started_ms is not None:
                assert r.finished_ms >= r.started_ms >= r.called_ms >= r.queued_ms
            # the overtake bound: nobody waiting was passed over more than max_overtakes times
            if r.status == "waiting":
                assert r.overtaken <= POLICY.max_overtakes, f"{r.number} passed over {r.overtaken} times"

        # windows as the model has them; a ticket is with at most one window
        by_id = {r.id: r for r in tickets}
        rows = {w.window: w for w in wins}
        for number, w in rows.items():
            if number not in self.windows:
                assert (w.state, w.ticket_id) == ("closed", None)
                continue
            m = self.windows[number]
            assert (w.state, w.clerk, w.ticket_id, w.priority_streak) == (m.state, m.clerk, m.ticket, m.streak), (
                f"window {number}: database {(w.state, w.clerk, w.ticket_id, w.priority_streak)}, "
                f"model {(m.state, m.clerk, m.ticket, m.streak)}")
            if w.state in WINDOW_STATE_OF_TICKET:
                t = by_id[w.ticket_id]
                assert (t.status, t.window) == (WINDOW_STATE_OF_TICKET[w.state], number)
            else:
                assert w.ticket_id is None
        current = [w.ticket_id for w in wins if w.ticket_id]
        assert len(current) == len(set(current)), "one ticket at two windows"
        for r in tickets:
            if r.status in ("called", "serving"):
                holders = [w.window for w in wins if w.ticket_id == r.id]
                assert holders == [r.window], f"{r.number} ({r.status}) is held by windows {holders}"

        # the event log: gap-free from 1, and the hall's counter agrees
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert last == len(events)
        self.check_window_events(events, rows)

    def check_window_events(self, events: list[Any], rows: dict[str, Any]) -> None:
        """A screen that replays the log knows each window's state: the last window.state event."""
        shown: dict[str, str] = {}
        for e in events:
            if e.type == "window.state":
                data = msgspec.json.decode(e.envelope)["data"]
                shown[data["window"]] = data["state"]
        for number in WINDOWS:
            assert shown.get(number, "closed") == rows[number].state, (
                f"window {number} is {rows[number].state} but its last window.state event says "
                f"{shown.get(number, 'closed')}")

    # -- the end of the day -----------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            # (hypothesis calls teardown from a ``finally``: after a failed step, only clean up)
            if sys.exc_info()[0] is None:
                self.end_of_day()
        finally:
            self.hall.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def end_of_day(self) -> None:
        for number, mw in self.windows.items():
            if mw.state == "calling":
                self.run(None, calling.no_show, number, MANAGER)
                t = self.tickets[mw.ticket]
                t.status, t.no_show_ms = "no_show", self.now_ms()
                mw.state, mw.ticket = "idle", None
            elif mw.state == "serving":
                self.run(None, calling.finish, number, MANAGER, None)
                self.finish_current(number, None)
                mw.state, mw.ticket = "idle", None
        self._close_day()
        self.database_agrees_with_the_model()
        tickets, _, events, _ = self.read()
        for r in tickets:
            assert r.status in FINAL, f"{r.number} left {r.status}"
        assert self.db.write_sync(issuing.close_day, self.h) == 0  # closing twice changes nothing

        # replay every ticket's events: each step legal, ending in the ticket's final state
        state: dict[str, str | None] = {}
        counts: Counter[tuple[str, str]] = Counter()
        service_of: dict[str, str] = {}
        queue_len: Counter[str] = Counter()
        for e in events:
            if not e.type.startswith("ticket."):
                continue
            data = msgspec.json.decode(e.envelope)["data"]
            tid = data["ticket_id"]
            kind = "ticket.recalled" if e.type == "ticket.called" and data["recall"] > 0 else e.type
            before = state.get(tid)
            assert before in TICKET_EVENTS[kind], f"seq {e.seq}: {kind} for a {before} ticket {data['ticket']}"
            state[tid] = TICKET_EVENTS[kind][before]
            counts[(tid, e.type)] += 1
            # the queue lengths the events tell screens ("waiting") follow from the events themselves
            if kind in ("ticket.issued", "ticket.transferred"):
                service_of[tid] = data["service"]
            if (before == "waiting") != (state[tid] == "waiting"):
                queue_len[service_of[tid]] += 1 if state[tid] == "waiting" else -1
            if "waiting" in data:
                assert data["waiting"] == queue_len[data["service"]], (
                    f"seq {e.seq} {e.type}: waiting {data['waiting']}, but {queue_len[data['service']]} wait")
            if kind == "ticket.finished":
                assert data["rating"] == self.tickets[tid].rating
        for r in tickets:
            assert state.get(r.id) == r.status, f"{r.number}: events end in {state.get(r.id)}, ticket is {r.status}"
            assert counts[(r.id, "ticket.issued")] == 1
            final_event = {"finished": "ticket.finished", "expired": "ticket.expired"}.get(r.status)
            if final_event:
                assert counts[(r.id, final_event)] == 1
            assert counts[(r.id, "ticket.no_show")] == counts[(r.id, "ticket.requeued")] + (r.status == "no_show")
        TEMPLATE.stats["examples"] += 1
        TEMPLATE.stats["tickets"] += len(tickets)
        TEMPLATE.stats["events"] += len(events)


# --------------------------------------------------------------------------- the test

@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """A migrated database with the hall, its windows and the staff accounts (argon2 once, not per example)."""
    db_dir = tmp_path_factory.mktemp("queue-template")
    h = build(halls=[CFG], settings=_settings(db_dir), clock=ManualClock(MONDAY_0930))
    try:
        add_staff(h)
    finally:
        h.close()
    TEMPLATE.db_dir = db_dir
    TEMPLATE.work_dir = tmp_path_factory.mktemp("queue-examples")
    TEMPLATE.stats.clear()
    return TEMPLATE


def test_queue_state_machine(template: Template) -> None:
    run_state_machine_as_test(QueueMachine, settings=settings(
        max_examples=int(os.environ.get("QUEUE_MACHINE_EXAMPLES", 60)), stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))
    print(dict(sorted(template.stats.items())))


def test_close_day_tells_the_screens_about_a_window_it_frees(tmp_path: Path, clock: ManualClock) -> None:
    """A window still calling at the end of the day is set back to idle by close_day; screens follow the
    event log, so that change needs its window.state event like every other one."""
    hall = build(halls=[CFG], settings=_settings(tmp_path), clock=clock)
    try:
        db, h = hall.server.db, hall.server.halls[HALL]
        clerk = Actor("clerk01", "clerk", HALL)
        db.write_sync(issuing.issue_ticket, h, IssueRequest(service="SB", channel="walk_in"))
        db.write_sync(windows_uc.sign_in, h, "1", clerk)
        assert db.write_sync(calling.call_next, h, "1", clerk) is not None
        clock.advance(3600)
        assert db.write_sync(issuing.close_day, h) == 1

        def window_events(conn: Any) -> list[dict[str, Any]]:
            q = select(event_t.c.envelope).where(event_t.c.hall_id == HALL, event_t.c.type == "window.state")
            return [msgspec.json.decode(e)["data"] for (e,) in conn.execute(q.order_by(event_t.c.seq))]

        row = db.read_sync(lambda conn: conn.execute(
            select(window_t).where(window_t.c.hall_id == HALL, window_t.c.window == "1")).one())
        assert (row.state, row.ticket_id) == ("idle", None)
        last = [e for e in db.read_sync(window_events) if e["window"] == "1"][-1]
        assert last["state"] == "idle", f"the last window.state event of window 1 still says {last['state']}"
    finally:
        hall.close()
