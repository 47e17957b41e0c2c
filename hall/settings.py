"""The one place that reads the environment (``HALL_…``)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None = None
    redis_prefix: str = "hall"
    mqtt_url: str | None = None
    mqtt_bind: str = "127.0.0.1:1883"
    clock: str | None = None
    secret: bytes = field(default=b"", repr=False)
    ws_send_timeout_s: float = 10.0  # a stream client whose one send blocks this long is dropped

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _secret(data_dir: Path) -> bytes:
    """HALL_SECRET, else a random secret kept in the data directory (salts ID hashes)."""
    env = os.environ.get("HALL_SECRET")
    if env:
        return env.encode()
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    path.write_bytes(value)
    path.chmod(0o600)
    return value


def _positive(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{name} 须为正数（秒） / must be a positive number of seconds, got {raw!r}")
    return value


def get_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("HALL_DATA_DIR") or Path.cwd() / "hall-data")
    url = env.get("HALL_DATABASE_URL") or f"sqlite:///{data_dir / 'hall.db'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return Settings(
        data_dir=data_dir,
        database_url=url,
        redis_url=env.get("HALL_REDIS_URL") or None,
        redis_prefix=env.get("HALL_REDIS_PREFIX") or "hall",
        mqtt_url=env.get("HALL_MQTT_URL") or None,
        mqtt_bind=env.get("HALL_MQTT_BIND") or "127.0.0.1:1883",
        clock=env.get("HALL_CLOCK") or None,
        ws_send_timeout_s=_positive(env, "HALL_WS_SEND_TIMEOUT_S", 10.0),
        secret=_secret(data_dir) if "HALL_SECRET" not in env else env["HALL_SECRET"].encode(),
    )
