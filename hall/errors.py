"""One error tree for the whole hall.

Every error a user can meet carries a stable machine code, a status (mapped to HTTP at the edge)
and a human sentence in Chinese first, then English. Domain code raises these; the web layer's one
exception handler turns them into ``{"error": code, "detail": text}``.
"""

from __future__ import annotations


class HallError(Exception):
    """Base of every error meant for a user. ``status`` is the HTTP status it maps to."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, zh: str, en: str, *, code: str | None = None, extra: dict | None = None) -> None:
        self.zh = zh
        self.en = en
        if code is not None:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        return f"{self.zh} / {self.en}"

    def body(self) -> dict:
        return {"error": self.code, "detail": self.detail, **self.extra}


class BadRequest(HallError):
    status = 400
    code = "bad_request"


class NotFound(HallError):
    status = 404
    code = "not_found"


class Unauthorized(HallError):
    status = 401
    code = "unauthorized"


class Forbidden(HallError):
    status = 403
    code = "forbidden"


class Conflict(HallError):
    status = 409
    code = "conflict"


class Unavailable(HallError):
    status = 503
    code = "unavailable"


class ConfigError(Exception):
    """Invalid hall configuration. ``str()`` names the file, the line or key, and what is wrong."""

    def __init__(self, path: str, where: str, message: str) -> None:
        self.path = path
        self.where = where
        self.message = message
        super().__init__(f"{path}: {where}: {message}" if where else f"{path}: {message}")


class TooManyRequests(HallError):
    status = 429
    code = "too_many_requests"
