"""Request-scoped helpers: the server, the hall, the signed-in actor, role checks, audited writes."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection

from hall import audit
from hall.auth import COOKIE, session_for_token
from hall.errors import BadRequest, Forbidden, HallError, Unauthorized
from hall.runtime import Actor, HallRuntime, ms
from hall.server import HallServer

log = logging.getLogger(__name__)

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
    """The signed-in staff member, of one of ``roles`` (any if none) and of ``hall`` (if given).
    A refusal (403) of a state-changing request is audited."""
    actor = await optional_actor(request)
    if actor is None:
        raise Unauthorized("请先登录", "please sign in", code="login_required")
    refused = None
    if roles and actor.role not in roles:
        refused = Forbidden("您的角色无权进行此操作", "your role may not do this", code="role")
    elif hall is not None and actor.hall_id not in (None, hall):
        refused = Forbidden("您不属于该大厅", "you do not belong to this hall", code="other_hall")
    if refused is not None:
        if hall is not None and request.method in CHANGES:
            await audit_refusal(request, hall, actor, _subject(request), refused)
        raise refused
    return actor


# --------------------------------------------------------------------------- the audit log (hall.audit)

CHANGES = ("POST", "PUT", "PATCH", "DELETE")  # the methods that change state: audited
REFUSALS = (403, 409)  # refusals worth a row: the actor may not, or the state does not allow it


def audit_action(request: ASGIConnection) -> str:
    """The action a route audits: ``opt={"audit": "window.call_next"}`` on its handler (a route
    without one gets a name made from its operation id, and a warning in the log)."""
    handler = request.route_handler
    action = handler.opt.get("audit")
    if isinstance(action, str) and action:
        return action
    op = handler.operation_id if isinstance(handler.operation_id, str) else handler.handler_name
    log.warning("route %s has no audit action", op)
    return "api." + re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()[:28]


def _subject(request: ASGIConnection) -> str:
    """What a request acts on, by default: its last path parameter other than the hall (or none)."""
    params = [str(v) for k, v in request.path_params.items() if k != "hall"]
    return params[-1] if params else ""


async def audit_refusal(request: ASGIConnection, hall: str | None, actor: Actor | str, subject: str,
                        exc: HallError, action: str | None = None, /, **detail: Any) -> None:
    """Store a row for a refused action (its own transaction); never in the way of the answer."""
    srv = server_of(request)
    name = actor.username if isinstance(actor, Actor) else actor
    now = srv.halls[hall].now() if hall in srv.halls else srv.clock.now()
    try:
        what = action or audit_action(request)
        await srv.db.write(lambda tx: audit.refusal(tx, hall, now, name, what, subject, exc.code, exc.status, **detail))
    except Exception as err:  # the refusal is answered anyway (e.g. while the database is away)
        log.warning("audit: a refusal could not be stored: %s", type(err).__name__)


@contextlib.asynccontextmanager
async def refusals_audited(request: Request, h: HallRuntime, actor: Actor, subject: str) -> AsyncIterator[None]:
    """Audit a 403/409 the body raises for this route's action (for use cases that audit their own
    success, e.g. inside the IoT service)."""
    try:
        yield
    except HallError as exc:
        if exc.status in REFUSALS:
            await audit_refusal(request, h.id, actor, subject, exc)
        raise


async def audited_write(request: Request, h: HallRuntime, actor: Actor, fn: Callable[..., Any], *args: Any,
                        subject: str | None = None, **detail: Any) -> Any:
    """Run the write job ``fn(tx, *args)`` with its audit row in the same transaction (hall.audit.audited):
    the route's action, the actor, ``subject`` (default: the last path parameter), ``detail`` and the
    ids in the answer. A 403/409 it raises is audited as refused. The one way routes write for staff."""
    srv = server_of(request)
    subj = _subject(request) if subject is None else subject
    job = audit.audited(fn, h.id, h.now, actor.username, audit_action(request), subj, detail)
    async with refusals_audited(request, h, actor, subj):
        return await srv.db.write(job, *args)


def one_of(value: str | None, allowed: tuple[str, ...], field: str) -> None:
    """A query or body value that must be one of ``allowed`` (400 ``bad_<field>`` otherwise)."""
    if value and value not in allowed:
        raise BadRequest(f"{field} 须为 {'、'.join(allowed)} 之一", f"{field} must be one of {', '.join(allowed)}",
                         code=f"bad_{field}")
