"""Staff login: a bearer token for programs and an HttpOnly cookie for browsers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody

from hall import audit
from hall.auth import (
    COOKIE,
    SESSION_HOURS,
    create_session,
    login_failed,
    login_keys,
    login_succeeded,
    login_wait,
    verify_password,
)
from hall.db.database import Tx
from hall.errors import TooManyRequests, Unauthorized
from hall.runtime import ms
from hall.web.deps import audit_refusal, require_actor, server_of


@dataclass
class LoginBody:
    username: str
    password: str


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", operation_id="Login", status_code=200, opt={"audit": "auth.login"})
    async def login(self, request: Request, data: JSONBody[LoginBody]) -> Response[dict[str, Any]]:
        """Sign in: answers ``{token, role}`` and sets the session cookie. Audited (``auth.login``), a
        wrong password or unknown username too (``refused``; the password is never stored)."""
        srv = server_of(request)
        ip = request.client.host if request.client else "?"
        keys = login_keys(srv.secret, data.username, ip)
        now = srv.clock.now
        wait = await srv.db.read(login_wait, keys, ms(now()))
        if wait is not None:
            raise TooManyRequests(f"登录失败次数过多，请{-(-wait // 60)}分钟后再试",
                                  f"too many failed sign-ins; try again in {wait} s", code="login_locked",
                                  extra={"retry_after_s": wait})
        try:
            async with srv.password_checks:
                actor = await srv.db.read(verify_password, data.username, data.password)
        except Unauthorized as exc:
            await srv.db.write(login_failed, keys, ms(now()))
            await audit_refusal(request, None, data.username, data.username[:64], exc, ip=ip)
            raise

        def sign_in(tx: Tx) -> str:
            login_succeeded(tx, keys)
            return create_session(tx, actor, ms(now()))

        token = await srv.db.write(audit.audited(sign_in, actor.hall_id or audit.GLOBAL, now, actor.username,
                                                 "auth.login", actor.username, {"ip": ip}))
        cookie = Cookie(key=COOKIE, value=token, httponly=True, samesite="lax", max_age=SESSION_HOURS * 3600,
                        path="/")
        body = {"token": token, "role": actor.role, "username": actor.username, "hall": actor.hall_id,
                "display_name": actor.display_name}
        return Response(body, cookies=[cookie])

    @get("/me", operation_id="Me")
    async def me(self, request: Request) -> dict[str, Any]:
        actor = await require_actor(request)
        return {"username": actor.username, "role": actor.role, "hall": actor.hall_id,
                "display_name": actor.display_name}
