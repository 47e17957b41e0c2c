"""The event stream: what a WebSocket client of ``/ws/halls/{hall}`` receives.

Order of work for one client: subscribe to the hall's channel first (live events buffer there),
then send the snapshot (or replay the log from ``since``) read from the database, then pass on
live events whose ``seq`` is newer. A live event that skips ahead (a publisher in another
process or writer thread was slower, or the client's backlog overflowed) makes the stream fetch
the missing seqs from the log, so a client never sees a gap. Published messages carry a small
``seq|topic|`` prefix so a client's topic filter needs no JSON parsing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from hall import alarms
from hall.db.database import StoredEvent
from hall.db.models import event_t, hall_t
from hall.queue import repo
from hall.queue.issuing import estimate_for
from hall.runtime import HallRuntime, ms
from hall.windows.service import window_views
from hall.windows.staffing import announce_open

TOPICS = ("ticket", "window", "device", "alarm", "locker", "command", "tidal", "post", "wait", "service", "hall",
          "shift", "followup")
REPLAY_PAGE = 1000


def channel_name(hall: str) -> str:
    return f"hall:{hall}"


def wire(e: StoredEvent) -> bytes:
    return f"{e.seq}|{e.topic}|".encode() + e.envelope.encode()


def unwire(data: bytes) -> tuple[int, str, str]:
    seq, topic, envelope = data.decode().split("|", 2)
    return int(seq), topic, envelope


def events_after(
    conn: Connection, hall: str, after: int, topics: Collection[str] | None, until: int | None = None
) -> Iterator[tuple[int, str]]:
    """Stored events with ``after < seq (< until)``, in order, paged."""
    last = after
    while True:
        q = select(event_t.c.seq, event_t.c.envelope).where(event_t.c.hall_id == hall, event_t.c.seq > last)
        if until is not None:
            q = q.where(event_t.c.seq < until)
        if topics:
            q = q.where(event_t.c.topic.in_(list(topics)))
        rows = list(conn.execute(q.order_by(event_t.c.seq).limit(REPLAY_PAGE)))
        yield from ((r.seq, r.envelope) for r in rows)
        if len(rows) < REPLAY_PAGE:
            return
        last = rows[-1].seq


def read_events(conn: Connection, hall: str, after: int, topics: Collection[str] | None,
                until: int | None = None) -> list[tuple[int, str]]:
    return list(events_after(conn, hall, after, topics, until))


def current_seq(conn: Connection, hall: str) -> int:
    return conn.execute(select(hall_t.c.seq).where(hall_t.c.id == hall)).scalar_one()


def services_view(conn: Connection, h: HallRuntime) -> list[dict[str, Any]]:
    waiting = repo.waiting_counts(conn, h.id)
    now = h.now()
    return [
        {
            "code": s.code, "name": s.name, "prefix": s.prefix, "waiting": waiting.get(s.code, 0),
            "est_wait_s": estimate_for(conn, h, s.code, waiting.get(s.code, 0)),
            "open": s.open_at(now), "hours": s.hours_text(), "target_wait_min": s.target_wait_min,
        }
        for s in h.cfg.services
    ]


def tidal_view(h: HallRuntime, windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tidal windows open now: the services they take and the screens' announcement."""
    out = []
    for w in windows:
        ts = w.get("tidal_state")
        if not ts or not ts["open"]:
            continue
        services = ts["services"] or w["serving"]
        wcfg = h.cfg.window(w["window"])
        out.append({
            "window": w["window"], "window_name": w["name"], "services": services,
            "service_names": [s.name for c in services if (s := h.cfg.service(c))],
            "since": ts["since"], "closing": ts["closing"], "staffed": w["post"]["on_duty"] is not None,
            "announcement": announce_open(h, wcfg, services) if wcfg else None,
        })
    return out


def wait_alerts_view(conn: Connection, h: HallRuntime) -> list[dict[str, Any]]:
    """Services whose wait alert (等待预警) is raised now."""
    out = []
    for code, r in sorted(alarms.active_by_subject(conn, h.id, "service", "wait_alert").items()):
        d = msgspec.json.decode(r.detail)
        svc = h.cfg.service(code)
        out.append({"service": code, "service_name": svc.name if svc else code, "since": h.iso(r.raised_ms),
                    "wait_s": d.get("wait_s"), "target_s": d.get("target_s"), "text": d.get("text")})
    return out


def vacant_posts_view(conn: Connection, h: HallRuntime, windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Posts that are 空岗 now (staff usernames only)."""
    raised = alarms.active_by_subject(conn, h.id, "post", "post_vacant")
    out = []
    for w in windows:
        if not w["post"]["vacant"]:
            continue
        r = raised.get(w["window"])
        out.append({"window": w["window"], "window_name": w["name"], "a": w["post"]["a"], "b": w["post"]["b"],
                    "since": w["post"]["unattended_since"], "raised_at": h.iso(r.raised_ms) if r else None,
                    "text": msgspec.json.decode(r.detail).get("text") if r else None})
    return out


def _screen_window(w: dict[str, Any]) -> dict[str, Any]:
    """A window as the snapshot carries it: the post reduced to what screens show."""
    p = w["post"]
    return {k: v for k, v in w.items() if k != "post"} | {
        "current_ticket": (w["current_ticket"] or {}).get("number"),
        "post": {"on_duty": p["on_duty"], "covering": p["covering"], "away_reason": p["away_reason"],
                 "vacant": p["vacant"]},
    }


def snapshot(conn: Connection, h: HallRuntime) -> tuple[int, str]:
    """The first message for a client without ``since``: current state at one ``seq``."""
    seq = current_seq(conn, h.id)
    names = {w.number: w.name for w in h.cfg.windows}
    callouts = [
        {
            "ticket": t.number, "ticket_id": t.id, "service": t.service, "window": t.window,
            "window_name": names.get(t.window, t.window),
            "announcement": f"请{t.number}号到{names.get(t.window, t.window)}办理",
            "called_at": h.iso(t.called_ms), "recall": t.recall_count,
        }
        for t in repo.recent_callouts(conn, h.id)
    ]
    views = window_views(conn, h)
    now = h.now()
    return seq, msgspec.json.encode({
        "type": "snapshot", "seq": seq, "hall": h.id, "at": now.isoformat(timespec="seconds"),
        "data": {"hall_name": h.cfg.name, "callouts": callouts, "services": services_view(conn, h),
                 "windows": [_screen_window(w) for w in views], "tidal": tidal_view(h, views),
                 "wait_alerts": wait_alerts_view(conn, h), "vacant_posts": vacant_posts_view(conn, h, views),
                 "now_ms": ms(now)},
    }).decode()
