"""The one app factory: routes, error mapping, channels (in-process or Redis), start-up."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, TypedDict

from litestar import Litestar, MediaType, Request, Response, get
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.routes import HTTPRoute

from hall.db.outage import RETRY_AFTER_S, error_body, is_unavailable
from hall.errors import HallError
from hall.feed import Feed
from hall.server import HallServer
from hall.tasks import cancel_and_wait
from hall.web.forward import forwarding
from hall.web.routes.alarms import AlarmController
from hall.web.routes.auth import AuthController
from hall.web.routes.devices import DeviceController
from hall.web.routes.feed import FeedController
from hall.web.routes.followups import FollowupController
from hall.web.routes.lockers import LockerController
from hall.web.routes.pages import PageController, static_router
from hall.web.routes.reports import ReportController
from hall.web.routes.shift import ShiftController
from hall.web.routes.slip import SlipController
from hall.web.routes.staffing import StaffingController
from hall.web.routes.tickets import TicketController
from hall.web.routes.windows import WindowController
from hall.web.stream import hall_stream, keep_transport

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1", "localhost", "testclient")


def _hall_error(_: Request, exc: HallError) -> Response:
    return Response(exc.body(), status_code=exc.status, media_type=MediaType.JSON)


def _validation(_: Request, exc: ValidationException) -> Response:
    extra = exc.extra if isinstance(exc.extra, list) else []
    fields = "; ".join(f"{e.get('key', '')}: {e.get('message', '')}" for e in extra if isinstance(e, dict))
    return Response(
        {"error": "validation", "detail": f"请求格式错误 / malformed request: {fields or exc.detail}", "fields": extra},
        status_code=400,
    )


def _http(_: Request, exc: HTTPException) -> Response:
    codes = {404: ("not_found", "没有这个地址", "no such path"), 405: ("method", "不支持该方法", "method not allowed"),
             400: ("bad_request", "请求格式错误（须为 JSON）", f"malformed request body: {exc.detail}"),
             401: ("unauthorized", "请先登录", "please sign in")}
    code, zh, en = codes.get(exc.status_code, ("http_error", "请求失败", exc.detail))
    return Response({"error": code, "detail": f"{zh} / {en}"}, status_code=exc.status_code)


def _unavailable() -> Response:
    return Response(error_body(), status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


def _internal(request: Request, exc: Exception) -> Response:
    if request.app.state.hall_server.db.outage.covers(exc, "request"):
        return _unavailable()  # the database is away: a clear 503, logged once per outage (hall.db.outage)
    log.exception("unhandled error", exc_info=exc)
    return Response({"error": "internal", "detail": "服务器内部错误，请稍后重试 / internal error, please retry"},
                    status_code=500)


class ErrorBody(TypedDict):
    """Every error answer: a stable machine code and a sentence in Chinese, then English (some errors add
    fields, e.g. ``fields`` on a validation error)."""

    error: str
    detail: str


_ERRORS = {400: "请求有误 / bad request", 401: "请先登录 / please sign in", 403: "无权操作 / forbidden",
           404: "找不到 / not found", 409: "状态冲突 / conflict", 429: "请求过于频繁 / too many requests",
           503: "暂不可用 / unavailable"}


def _document_errors(app: Litestar) -> None:
    """The OpenAPI document shows the error answers the handlers really give (``{error, detail}``),
    not Litestar's default ``{status_code, detail, extra}``; a handler's own ``responses`` win."""
    specs = {code: ResponseSpec(data_container=ErrorBody, description=text, generate_examples=False)
             for code, text in _ERRORS.items()}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                handler.responses = {**specs, **(handler.responses or {})}


@get("/metrics", media_type=MediaType.TEXT, include_in_schema=False)
async def metrics(request: Request) -> Response:
    host = request.client.host if request.client else ""
    if host not in LOOPBACK:
        return Response("forbidden\n", status_code=403, media_type=MediaType.TEXT)
    return Response(request.app.state.hall_server.metrics.render(), media_type=MediaType.TEXT)


@get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> dict[str, Any]:
    """Liveness: the process answers (whatever the database does); which process this is and the
    halls whose single-writer work it does (hall.leases)."""
    srv: HallServer = request.app.state.hall_server
    return {"status": "ok", "node": srv.node_id, "owns": sorted(h.id for h in srv.owned())}


@get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    """Readiness: 200 while the database answers, 503 ``database_unavailable`` while it does not."""
    try:
        await asyncio.to_thread(request.app.state.hall_server.db.ping)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        return _unavailable()
    return Response({"status": "ready"})


def _timing(server: HallServer) -> Any:
    """ASGI middleware: count HTTP requests by route and status, observe their latency."""

    def factory(app: Any) -> Any:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = [500]

            async def send_wrapper(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                route = scope.get("path_template") or "unmatched"
                server.metrics.inc("hall_http_requests_total", method=scope["method"], route=route,
                                   status=str(status[0]))
                server.metrics.observe("hall_http_request_seconds", time.perf_counter() - start)

        return middleware

    return factory


def _channels_backend(redis_url: str | None, prefix: str) -> Any:
    """In-process fan-out by default; Redis pub/sub to reach screens on other server processes."""
    if not redis_url:
        return MemoryChannelsBackend()
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend
    from redis.asyncio import Redis

    return RedisChannelsPubSubBackend(redis=Redis.from_url(redis_url), key_prefix=prefix)


def create_app(server: HallServer, *, redis_url: str | None = None, redis_prefix: str = "hall") -> Litestar:
    """Build the ASGI app around a prepared ``HallServer`` (schema migrated, halls registered)."""
    channels = ChannelsPlugin(
        backend=_channels_backend(redis_url, redis_prefix),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=5000,
        subscriber_backlog_strategy="dropleft",  # an overflowing client gets the gap filled from the log
    )

    async def on_startup(app: Litestar) -> None:
        from hall.leases import Leases

        server.attach(channels, asyncio.get_running_loop())
        # Which halls' single-writer work runs here: decided before anything of it starts.
        leases = Leases(server.db, list(server.halls), me=server.node_id, address=server.node_address)
        if server.iot is not None:
            leases.on_change.append(server.iot.on_leases)
        server.leases = leases
        await asyncio.to_thread(leases.renew_now)
        leases.start()
        app.state.housekeeping = asyncio.create_task(server.housekeeping())
        if server.iot is not None:
            await server.iot.start()
        app.state.feed = Feed(server)
        app.state.feed.start()

    async def on_shutdown(app: Litestar) -> None:
        await cancel_and_wait([app.state.housekeeping], what="housekeeping")
        if (feed := app.state.get("feed")) is not None:
            await feed.stop()
        if server.iot is not None:
            await server.iot.stop()
        for v in server.verifiers.values():
            if v is not None and hasattr(v, "aclose"):
                await v.aclose()
        if server.leases is not None:
            await server.leases.stop()  # after the work stopped: the next owner takes over at once

    app = Litestar(
        middleware=[_timing(server), forwarding(server)],
        route_handlers=[TicketController, SlipController, WindowController, StaffingController, AlarmController,
                        AuthController, DeviceController, LockerController, ShiftController, FeedController,
                        ReportController, FollowupController, PageController, static_router, hall_stream, metrics,
                        healthz, readyz],
        plugins=[channels],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        exception_handlers={
            HallError: _hall_error,
            ValidationException: _validation,
            NotAuthorizedException: _http,
            NotFoundException: _http,
            HTTPException: _http,
            Exception: _internal,
        },
        openapi_config=OpenAPIConfig(title="hall", version="1", path="/schema",
                                     render_plugins=[SwaggerRenderPlugin()]),
        debug=False,
        logging_config=None,  # the process configures logging (hall.cli); no per-request noise
    )
    _document_errors(app)
    app.state.hall_server = server
    app.asgi_handler = keep_transport(app.asgi_handler)  # a stalled screen can be cut off (hall.web.stream)
    return app
