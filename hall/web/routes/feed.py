"""The provincial feed's state (#7): how far delivery has got and whether it is failing.

Roles: manager, admin, duty_officer. What the fields mean is in ``hall.feed``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath

from hall import feed
from hall.web.deps import require_actor, server_of

FEED_ROLES = ("manager", "admin", "duty_officer")


class FeedController(Controller):
    path = "/api/v1/halls/{hall:str}/feed"
    tags = ["feed"]

    @get("", operation_id="GetFeed")
    async def get_feed(self, request: Request, hall: FromPath[str]) -> dict[str, Any]:
        """``{enabled, url_host, types, last_seq, backlog, failures, last_error, next_try_at,
        last_delivered_at}``: ``backlog`` counts the wanted events not yet accepted by the platform
        (null when the feed is off); ``failures`` the failed tries in a row."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *FEED_ROLES, hall=hall)
        return await srv.db.read(feed.status, h)
