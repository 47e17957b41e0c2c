"""Persistence: SQLModel tables, the database adapter with its group-commit writer, migrations."""
