"""Alembic environment: always run by `drone_ops.store.migrate` with an open connection.

The caller holds the migration lock (a PostgreSQL advisory lock, or SQLite's
write lock via BEGIN IMMEDIATE) inside the same transaction, so two controllers
opening one store at once migrate it exactly once.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from drone_ops.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("drone-ops migrations run only through drone_ops.store.migrate")

context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
