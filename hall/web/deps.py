"""Request-scoped helpers: the server, the hall, the signed-in actor, role checks."""

from __future__ import annotations

import time

from litestar import Request
from litestar.connection import ASGIConnection

from hall.auth import COOKIE, session_for_token
from hall.errors import BadRequest, Forbidden, Unauthorized
from hall.runtime import Actor, ms
from hall.server import HallServer

STAFF_ROLES = ("duty_officer", "facility", "manager", "admin")


def server_of(conn: ASGIConnection) -> HallServer:
    return conn.app.state.hall_server


def token_of(conn: ASGIConnection) -> str | None:
    auth = conn.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return conn.cookies.get(COOKIE) or None


SESSION_CACHE_S = 30.0  # how long a looked-up session is trusted before the database is asked again


async def optional_actor(request: Request) -> Actor | None:
    token = token_of(request)
    if not token:
        return None
    srv = server_of(request)
    now = ms(srv.clock.now())
    mono = time.monotonic()
    hit = srv.sessions.get(token)
    if hit is not None and hit[1] > mono and hit[2] > now:
        return hit[0]
    found = await srv.db.read(session_for_token, token, now)
    if found is None:
        srv.sessions.pop(token, None)
        return None
    actor, expires_ms = found
    if len(srv.sessions) > 10_000:
        srv.sessions.clear()
    srv.sessions[token] = (actor, mono + SESSION_CACHE_S, expires_ms)
    return actor


async def require_actor(request: Request, *roles: str, hall: str | None = None) -> Actor:
    actor = await optional_actor(request)
    if actor is None:
        raise Unauthorized("请先登录", "please sign in", code="login_required")
    if roles and actor.role not in roles:
        raise Forbidden("您的角色无权进行此操作", "your role may not do this", code="role")
    if hall is not None and actor.hall_id not in (None, hall):
        raise Forbidden("您不属于该大厅", "you do not belong to this hall", code="other_hall")
    return actor


def one_of(value: str | None, allowed: tuple[str, ...], field: str) -> None:
    """A query or body value that must be one of ``allowed`` (400 ``bad_<field>`` otherwise)."""
    if value and value not in allowed:
        raise BadRequest(f"{field} 须为 {'、'.join(allowed)} 之一", f"{field} must be one of {', '.join(allowed)}",
                         code=f"bad_{field}")
