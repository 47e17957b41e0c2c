"""Schema creation and upgrades through alembic, run at start-up (``upgrade head``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


MIGRATION_LOCK = 0x6861_6C6C  # "hall": the advisory lock several starting processes queue on


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema. On PostgreSQL a transaction-scoped advisory lock makes processes that
    start together (``hall serve --workers``, several machines) migrate one after the other: the
    first upgrades, the others find the schema current."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
