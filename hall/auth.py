"""Staff accounts, argon2 password hashes and login sessions.

A session token is random; only its SHA-256 is stored, so a copy of the database cannot be used
to sign in. Browsers get it as an HttpOnly cookie, programs as a bearer token.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from pwdlib import PasswordHash
from sqlalchemy import Connection, delete, insert, select

from hall.db.database import Tx
from hall.db.models import session_t, staff_t
from hall.errors import BadRequest, Conflict, Unauthorized
from hall.runtime import Actor

ROLES = ("clerk", "duty_officer", "facility", "manager", "admin")
SESSION_HOURS = 12
COOKIE = "hall_session"

_hasher = PasswordHash.recommended()
_DUMMY = _hasher.hash("not-a-password")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bad_login() -> Unauthorized:
    return Unauthorized("用户名或密码错误", "wrong username or password", code="bad_login")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(tx: Tx, username: str, role: str, password: str, hall: str | None = None,
             display_name: str = "", staff_no: str = "", *, password_hash: str | None = None) -> dict[str, Any]:
    """Create an account. ``password_hash`` (already hashed) lets tests skip argon2's deliberate cost."""
    if role not in ROLES:
        raise BadRequest(f"角色必须是 {', '.join(ROLES)} 之一", f"role must be one of {', '.join(ROLES)}",
                         code="bad_role")
    if not username or len(username) > 64:
        raise BadRequest("用户名不能为空且不超过64个字符", "username must be 1 to 64 characters", code="bad_username")
    if password_hash is None and len(password) < 8:
        raise BadRequest("密码至少8位", "password must have at least 8 characters", code="weak_password")
    exists = tx.conn.execute(select(staff_t.c.username).where(staff_t.c.username == username)).first()
    values = dict(password_hash=password_hash or _hasher.hash(password), role=role, hall_id=hall,
                  display_name=display_name or username, staff_no=staff_no, active=True)
    if exists:
        raise Conflict("该用户名已存在", "that username exists", code="user_exists")
    tx.conn.execute(insert(staff_t).values(username=username, **values))
    return {"username": username, "role": role, "hall": hall}


def verify_password(conn: Connection, username: str, password: str) -> Actor:
    """Check a password (runs argon2 even for unknown users, so timing tells nothing)."""
    row = conn.execute(select(staff_t).where(staff_t.c.username == username)).first()
    if row is None or not row.active:
        _hasher.verify(password, _DUMMY)
        raise bad_login()
    if not _hasher.verify(password, row.password_hash):
        raise bad_login()
    return Actor(row.username, row.role, row.hall_id, row.display_name)


def create_session(tx: Tx, actor: Actor, now_ms: int) -> str:
    token = secrets.token_urlsafe(32)
    tx.conn.execute(delete(session_t).where(session_t.c.expires_ms < now_ms))
    tx.conn.execute(insert(session_t).values(token_hash=_token_hash(token), username=actor.username,
                                             created_ms=now_ms, expires_ms=now_ms + SESSION_HOURS * 3600_000))
    return token


def session_for_token(conn: Connection, token: str, now_ms: int) -> tuple[Actor, int] | None:
    """The signed-in staff member of a live session, and when the session expires (Unix ms)."""
    q = (
        select(staff_t, session_t.c.expires_ms)
        .join(session_t, session_t.c.username == staff_t.c.username)
        .where(session_t.c.token_hash == _token_hash(token), session_t.c.expires_ms > now_ms, staff_t.c.active)
    )
    row = conn.execute(q).first()
    return (Actor(row.username, row.role, row.hall_id, row.display_name), row.expires_ms) if row else None
