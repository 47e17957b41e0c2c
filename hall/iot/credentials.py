"""MQTT credentials and topic ACL: one password file and one ACL file for either broker.

Files live in ``{HALL_DATA_DIR}/mqtt/``:

``passwd``
    ``username:$7$101$<salt>$<hash>`` lines: Mosquitto 2's own ``password_file`` format
    (PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte key, base64). Mosquitto reads it as it is, and
    the embedded broker's auth plugin (:mod:`hall.iot.broker`) verifies the same hashes, so
    ``hall device add`` writes one file that serves both. 101 iterations is what
    ``mosquitto_passwd`` writes: every password here is 192 random bits, so a higher count
    would add nothing against guessing and only cost CPU when a whole hall reconnects at once.
``acl``
    Mosquitto's ``acl_file``: a ``user`` block per account with explicit ``topic read|write``
    lines, so access is keyed on the authenticated username. The embedded broker's topic plugin
    parses and enforces the same file.
``server.secret``
    The plaintext password of the server's own account (``hall-server``, read/write on
    ``hall/#``), mode 0600: the server needs it to connect.

Writers take an exclusive lock and replace files atomically (keeping the old file's mode and
owner, so a ``chgrp mosquitto`` survives), so a running broker never reads half a file.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import grp
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from hall.errors import BadRequest

SERVER_USERNAME = "hall-server"
DEVICE_KINDS = ("kiosk", "ticket_printer", "locker", "screen", "env_sensor", "caller")
DISPLAY_READERS = frozenset({"screen", "caller"})  # kinds that show a window's called ticket
DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
HALL_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
PBKDF2_ITERATIONS = 101
_SALT_BYTES = 12
_KEY_BYTES = 64

Access = Literal["read", "write", "readwrite"]


# --- passwords -------------------------------------------------------------------------------

def generate_password() -> str:
    """A random password (32 URL-safe characters, 192 bits): no ``:`` so it fits the file format."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto 2's ``$7$`` hash of ``password`` (what ``mosquitto_passwd`` writes)."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _KEY_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Check ``password`` against a ``$7$`` hash; anything malformed is simply a mismatch."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        key = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    if not 1 <= iterations <= 10_000_000 or not key:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(key))
    return hmac.compare_digest(got, key)


def parse_password_file(text: str) -> dict[str, str]:
    """``username → hash``, in file order; blank lines, comments and malformed lines are skipped."""
    users: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, hashed = line.split(":", 1)
        if user:
            users[user] = hashed
    return users


def render_password_file(users: dict[str, str]) -> str:
    return "".join(f"{user}:{hashed}\n" for user, hashed in users.items())


# --- topics and the ACL -------------------------------------------------------------------------

def topic_matches(pattern: str, topic: str) -> bool:
    """Whether the concrete ``topic`` matches the MQTT filter ``pattern`` (``+``, ``#``).

    As MQTT says, wildcards at the first level do not match topics starting with ``$``.
    """
    if topic.startswith("$") and pattern[:1] in ("+", "#"):
        return False
    p = pattern.split("/")
    t = topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(p) == len(t)


def filter_within(sub: str, pattern: str) -> bool:
    """Whether every topic the subscription filter ``sub`` matches is matched by ``pattern``."""
    if sub.startswith("$") != pattern.startswith("$") and pattern[:1] in ("+", "#"):
        return False
    s = sub.split("/")
    p = pattern.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(s) or s[i] == "#":
            return False
        if level != "+" and s[i] != level:
            return False
    return len(s) == len(p)


def strip_shared(sub: str) -> str:
    """``$share/{group}/{filter}`` → ``{filter}``: the group does not change what may be read."""
    if sub.startswith("$share/"):
        parts = sub.split("/", 2)
        return parts[2] if len(parts) == 3 else ""
    return sub


@dataclass(frozen=True, slots=True)
class AclRule:
    access: Access
    topic: str

    def reads(self) -> bool:
        return self.access in ("read", "readwrite")

    def writes(self) -> bool:
        return self.access in ("write", "readwrite")


@dataclass
class Acl:
    """A Mosquitto ``acl_file`` limited to ``user`` blocks of ``topic`` lines (what we write).

    ``pattern`` lines and rules outside a ``user`` block are not understood here and grant
    nothing: the embedded broker denies what it cannot read, Mosquitto would still apply them.
    """

    users: dict[str, list[AclRule]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Acl:
        acl = cls()
        current: list[AclRule] | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            rest = rest.strip()
            if word == "user":
                current = acl.users.setdefault(rest, [])
            elif word == "topic" and current is not None:
                access, _, topic = rest.partition(" ")
                if access in ("read", "write", "readwrite") and topic.strip():
                    current.append(AclRule(access, topic.strip()))  # type: ignore[arg-type]
                elif access not in ("read", "write", "readwrite", "deny"):
                    current.append(AclRule("readwrite", rest))  # Mosquitto: no access word = readwrite
        return acl

    def render(self) -> str:
        out = ["# MQTT topic ACL written by `hall device add`: one user block per account.",
               "# Mosquitto reads it as acl_file (reload with SIGHUP); the embedded broker enforces it too.", ""]
        for user, rules in self.users.items():
            out.append(f"user {user}")
            out += [f"topic {r.access} {r.topic}" for r in rules]
            out.append("")
        return "\n".join(out)

    def may_publish(self, username: str | None, topic: str) -> bool:
        rules = self.users.get(username or "", ())
        return any(r.writes() and topic_matches(r.topic, topic) for r in rules)

    def may_receive(self, username: str | None, topic: str) -> bool:
        rules = self.users.get(username or "", ())
        return any(r.reads() and topic_matches(r.topic, topic) for r in rules)

    def may_subscribe(self, username: str | None, sub: str) -> bool:
        """A subscription must lie within what the user may read (a ``$share`` group is ignored)."""
        sub = strip_shared(sub)
        rules = self.users.get(username or "", ())
        return bool(sub) and any(r.reads() and filter_within(sub, r.topic) for r in rules)


def device_username(hall: str, device: str) -> str:
    """``{hall}.{device}``: unique across halls; neither id may contain a dot."""
    return f"{hall}.{device}"


def device_prefix(hall: str, device: str) -> str:
    return f"hall/{hall}/device/{device}/"


def device_rules(hall: str, device: str, kind: str) -> list[AclRule]:
    """Least privilege: the four leaves a device writes, its command topic, and for screens and
    callers the window displays of its hall (CONTRACT.md, "MQTT")."""
    prefix = device_prefix(hall, device)
    rules = [AclRule("write", prefix + leaf) for leaf in ("status", "telemetry", "event", "cmd/ack")]
    rules.append(AclRule("read", prefix + "cmd"))
    if kind in DISPLAY_READERS:
        rules.append(AclRule("read", f"hall/{hall}/window/+/display"))
    return rules


SERVER_RULES = [AclRule("readwrite", "hall/#")]


def check_ids(hall: str, device: str, kind: str) -> None:
    if not HALL_ID.match(hall):
        raise BadRequest(f"大厅编号不合法：{hall!r}", f"invalid hall id {hall!r} (expected {HALL_ID.pattern})",
                         code="bad_hall_id")
    if not DEVICE_ID.match(device):
        raise BadRequest(f"设备编号不合法：{device!r}", f"invalid device id {device!r} (expected {DEVICE_ID.pattern})",
                         code="bad_device_id")
    if kind not in DEVICE_KINDS:
        raise BadRequest(f"设备类型必须是 {', '.join(DEVICE_KINDS)} 之一", f"kind must be one of {', '.join(DEVICE_KINDS)}",
                         code="bad_device_kind")


# --- the store -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Provisioned:
    """What ``hall device add`` prints once; the password is not stored in clear anywhere."""

    device: str
    hall: str
    kind: str
    username: str
    password: str = field(repr=False)
    topic_prefix: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False)


def _mosquitto_gid() -> int:
    """The ``mosquitto`` group if this process may hand files to it, else -1 (leave the group).

    A system Mosquitto drops to user ``mosquitto`` before it reads password and ACL files, so
    they must be group-readable by it; we try, and the README says how to do it by hand.
    """
    try:
        gid = grp.getgrnam("mosquitto").gr_gid
    except KeyError:
        return -1
    return gid if os.geteuid() == 0 or gid in os.getgroups() else -1


def _give_to_mosquitto_group(path: Path) -> None:
    gid = _mosquitto_gid()
    if gid != -1:
        with contextlib.suppress(OSError):
            os.chown(path, -1, gid)


class CredentialStore:
    """The MQTT password file, ACL file and the server's secret in one directory."""

    PASSWORD_FILE = "passwd"
    ACL_FILE = "acl"
    SERVER_SECRET = "server.secret"

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    @classmethod
    def for_data_dir(cls, data_dir: Path | str) -> CredentialStore:
        return cls(Path(data_dir) / "mqtt")

    @property
    def password_file(self) -> Path:
        return self.directory / self.PASSWORD_FILE

    @property
    def acl_file(self) -> Path:
        return self.directory / self.ACL_FILE

    @property
    def server_secret_file(self) -> Path:
        return self.directory / self.SERVER_SECRET

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._mkdir()
        with open(self.directory / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read(self, path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def _mkdir(self) -> None:
        if not self.directory.exists():
            self.directory.mkdir(parents=True, mode=0o750)
            _give_to_mosquitto_group(self.directory)

    def _write(self, path: Path, text: str, mode: int = 0o640) -> None:
        """Atomic replace; an existing file's mode and owner are kept (e.g. group ``mosquitto``)."""
        uid = gid = -1
        with contextlib.suppress(FileNotFoundError):
            st = path.stat()
            mode, uid, gid = st.st_mode & 0o777, st.st_uid, st.st_gid
        if uid == -1 and mode & 0o040:
            gid = _mosquitto_gid()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            if uid != -1 or gid != -1:
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, uid, gid)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def users(self) -> dict[str, str]:
        return parse_password_file(self._read(self.password_file))

    def acl(self) -> Acl:
        return Acl.parse(self._read(self.acl_file))

    def _set_account(self, username: str, password: str, rules: list[AclRule]) -> None:
        users = self.users()
        users[username] = hash_password(password)
        acl = self.acl()
        acl.users[username] = list(rules)
        # The ACL first: a new user never logs in before their rules exist.
        self._write(self.acl_file, acl.render())
        self._write(self.password_file, render_password_file(users))

    def server_credentials(self) -> tuple[str, str]:
        """The server's own account, created (or repaired) on first use: ``(username, password)``."""
        with self._locked():
            password = self._read(self.server_secret_file).strip()
            users = self.users()
            acl = self.acl()
            if (password and SERVER_USERNAME in users and verify_password(password, users[SERVER_USERNAME])
                    and acl.users.get(SERVER_USERNAME) == SERVER_RULES):
                return SERVER_USERNAME, password
            password = password or generate_password()
            self._write(self.server_secret_file, password + "\n", mode=0o600)
            self._set_account(SERVER_USERNAME, password, SERVER_RULES)
            return SERVER_USERNAME, password

    def ensure(self) -> tuple[str, str]:
        """Make sure both files and the server account exist (a broker needs them to start)."""
        return self.server_credentials()

    def add_device(self, hall: str, device: str, kind: str) -> Provisioned:
        """Create the device's account, or rotate its password (the old one stops working)."""
        check_ids(hall, device, kind)
        self.server_credentials()
        password = generate_password()
        username = device_username(hall, device)
        with self._locked():
            self._set_account(username, password, device_rules(hall, device, kind))
        return Provisioned(device, hall, kind, username, password, device_prefix(hall, device))

    def remove_device(self, hall: str, device: str) -> bool:
        username = device_username(hall, device)
        with self._locked():
            users = self.users()
            acl = self.acl()
            found = users.pop(username, None) is not None
            acl.users.pop(username, None)
            self._write(self.password_file, render_password_file(users))
            self._write(self.acl_file, acl.render())
        return found


# --- the device registry (database) ---------------------------------------------------------------

def register_device(tx: Any, hall: str, device: str, kind: str, location: str | None = None,
                    window: str | None = None, now_ms: int | None = None, slots: int = 0) -> dict[str, Any]:
    """Insert or update the device's row in ``device`` (a write job: ``tx.conn`` is the connection).

    A new row has ``origin='api'``; an existing row (e.g. from the hall file) keeps its origin,
    and keeps its location/window unless new ones are given. A locker gets slots 1..``slots``
    (existing slots are left alone: they may hold deposits).
    """
    from sqlalchemy import insert, select, update

    from hall.db.models import device_t, slot_t

    check_ids(hall, device, kind)
    if window is not None and (not window or len(window) > 8):
        raise BadRequest("窗口编号不合法", "window must be 1 to 8 characters", code="bad_window")
    if not 0 <= slots <= 200:
        raise BadRequest("格口数须在 0 到 200 之间", "slots must be 0 to 200", code="bad_slots")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    key = (device_t.c.hall_id == hall) & (device_t.c.device == device)
    row = tx.conn.execute(select(device_t).where(key)).first()
    if row is None:
        tx.conn.execute(insert(device_t).values(
            hall_id=hall, device=device, kind=kind, location=location or "", window=window, origin="api",
            created_ms=now_ms, metrics="{}"))
        created = True
    else:
        values: dict[str, Any] = {"kind": kind}
        if location is not None:
            values["location"] = location
        if window is not None:
            values["window"] = window
        tx.conn.execute(update(device_t).where(key).values(**values))
        created = False
    if kind == "locker" and slots:
        have = set(tx.conn.execute(select(slot_t.c.slot).where(
            (slot_t.c.hall_id == hall) & (slot_t.c.device == device))).scalars())
        missing = [n for n in range(1, slots + 1) if n not in have]
        if missing:
            tx.conn.execute(insert(slot_t), [
                {"hall_id": hall, "device": device, "slot": n, "door": "closed", "occupied": False,
                 "deposit_id": None, "updated_ms": now_ms} for n in missing])
    return {"hall": hall, "device": device, "kind": kind, "created": created}
