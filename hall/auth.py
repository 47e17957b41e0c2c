"""Staff accounts, argon2 password hashes and login sessions.

A session token is random; only its SHA-256 is stored, so a copy of the database cannot be used
to sign in. Browsers get it as an HttpOnly cookie, programs as a bearer token.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from pwdlib import PasswordHash
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hall.db.database import Tx
from hall.db.models import login_guard_t, session_t, staff_t
from hall.errors import BadRequest, Conflict, Unauthorized
from hall.privacy import keyed_hash
from hall.ratelimit import LockState, after_failure, locked
from hall.runtime import Actor

ROLES = ("clerk", "duty_officer", "facility", "manager", "admin")
SESSION_HOURS = 12
COOKIE = "hall_session"
# Wrong passwords: the tenth within ten minutes, from one address or at one account, locks that
# address or account out of signing in for ten minutes.
LOGIN_MAX_FAILURES = 10
LOGIN_WINDOW_MS = 600_000
LOGIN_LOCKOUT_MS = 600_000

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


def login_keys(secret: bytes, username: str, ip: str) -> tuple[str, str]:
    """The guard's keys for a sign-in: the account and the client's address, each as an HMAC (the
    table never holds an address, and a copy of it cannot be reversed by trying every address)."""
    return keyed_hash(secret, "login", f"user:{username}"), keyed_hash(secret, "login", f"ip:{ip}")


def _guard_states(conn: Connection, keys: tuple[str, ...], lock: bool = False) -> dict[str, LockState]:
    q = select(login_guard_t).where(login_guard_t.c.key_hash.in_(keys))
    rows = conn.execute(q.with_for_update() if lock else q).all()
    return {r.key_hash: LockState(r.failures, r.first_ms, r.locked_until_ms) for r in rows}


def login_wait(conn: Connection, keys: tuple[str, ...], now_ms: int) -> int | None:
    """Seconds until every locked key of a sign-in opens again, or None when none is locked."""
    waits = [w for st in _guard_states(conn, keys).values() if (w := locked(st, now_ms)) is not None]
    return max(waits) if waits else None


def login_failed(tx: Tx, keys: tuple[str, ...], now_ms: int) -> None:
    """Count a wrong password for each key. The rows are made if missing and then locked, so two
    processes counting at once both count (PostgreSQL); SQLite has one writer anyway."""
    ins = (postgresql.insert if tx.conn.dialect.name == "postgresql" else sqlite.insert)(login_guard_t)
    tx.conn.execute(ins.on_conflict_do_nothing(), [{"key_hash": k, "failures": 0, "first_ms": now_ms} for k in keys])
    states = _guard_states(tx.conn, keys, lock=True)
    for k in keys:  # a row just made (no failures, first_ms now) counts as a first failure
        new = after_failure(states.get(k), now_ms, LOGIN_MAX_FAILURES, LOGIN_WINDOW_MS, LOGIN_LOCKOUT_MS)
        tx.conn.execute(update(login_guard_t).where(login_guard_t.c.key_hash == k).values(
            failures=new.failures, first_ms=new.first_ms, locked_until_ms=new.locked_until_ms))
    # Rows of keys long quiet are of no use: keep the table as small as the recent failures.
    tx.conn.execute(delete(login_guard_t).where(login_guard_t.c.first_ms < now_ms - 24 * 3600_000,
                                                (login_guard_t.c.locked_until_ms.is_(None))
                                                | (login_guard_t.c.locked_until_ms < now_ms)))


def login_succeeded(tx: Tx, keys: tuple[str, ...]) -> None:
    """A right password forgives the account's and the address's earlier failures, unless locked."""
    tx.conn.execute(delete(login_guard_t).where(login_guard_t.c.key_hash.in_(keys),
                                                login_guard_t.c.locked_until_ms.is_(None)))


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
