"""Every hall-scoped table is reached through an index led by ``hall_id`` (#8): with hundreds of
halls in one database, a query of one hall must never read the others' rows. And the migrations
build exactly the schema the models describe, so that index is really there."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import hall.db.models  # noqa: F401 - registers the tables
from hall.db.migrate import upgrade


def _led_by_hall(table) -> bool:  # noqa: ANN001
    keys = [[c.name for c in table.primary_key.columns]]
    keys += [[c.name for c in ix.columns] for ix in table.indexes]
    keys += [[c.name for c in getattr(k, "columns", [])] for k in table.constraints]
    return any(k and k[0] == "hall_id" for k in keys)


def test_every_hall_scoped_table_has_an_index_led_by_hall_id():
    scoped = [t for t in SQLModel.metadata.sorted_tables if "hall_id" in t.c]
    assert len(scoped) > 15  # the check looks at the real tables
    missing = [t.name for t in scoped if not _led_by_hall(t)]
    assert missing == [], f"tables without an index led by hall_id: {missing}"


def test_migrations_build_the_schema_of_the_models(tmp_path: Path):
    engine = create_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"the migrations and the models differ: {diff}"
