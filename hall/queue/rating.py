"""好差评 after the service: the visitor rates on the pad at the window (GB/T 39734's five levels).

Never forced and never in the clerk's way: the clerk finishes (with or without a rating) and calls
the next visitor; the pad may send the rating afterwards, once, within ``RATE_WITHIN_MIN``.
"""

from __future__ import annotations

from typing import Any

from hall import followup
from hall.db.database import Tx
from hall.errors import BadRequest, Conflict
from hall.queue import repo
from hall.queue.issuing import unknown_ticket
from hall.runtime import HallRuntime, ms

LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
RATE_WITHIN_MIN = 15


def rate(tx: Tx, h: HallRuntime, ticket_id: str, rating: int) -> dict[str, Any]:
    if rating not in LEVELS:
        raise BadRequest("评价须为1到5", "rating must be 1 to 5", code="bad_rating")
    tx.lock_hall(h.id)
    t = repo.get_ticket(tx.conn, h.id, ticket_id, lock=True)
    if t is None:
        raise unknown_ticket()
    now = h.now()
    if t.status != "finished" or t.finished_ms is None:
        raise Conflict("办结后才能评价", "a ticket can be rated once its service is finished", code="ticket_state",
                       extra={"status": t.status})
    if t.rating is not None:
        raise Conflict("已评价，感谢您的反馈", "this service was already rated", code="already_rated")
    if ms(now) - t.finished_ms > RATE_WITHIN_MIN * 60_000:
        raise Conflict("评价时间已过", "the time to rate this service has passed", code="rating_closed")
    repo.set_ticket(tx.conn, h.id, t.id, rating=rating)
    tx.emit(h.id, "ticket.rated", now, {"ticket": t.number, "ticket_id": t.id, "service": t.service,
                                        "window": t.window, "rating": rating, "level": LEVELS[rating]})
    followup.open_for_rating(tx, h, now, t, rating)  # 差评回访 (#7), with the rating
    return {"id": t.id, "number": t.number, "rating": rating, "level": LEVELS[rating]}
