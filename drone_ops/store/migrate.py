"""Bring a store's schema to this version's head, once, even with racing openers.

Migrations are numbered (0001, 0002, …), forward-only and shipped inside the
package. PostgreSQL serialises openers with a transaction-scoped advisory lock;
SQLite with its write lock (BEGIN IMMEDIATE). DDL is transactional on both, so a
migration either fully applies or not at all.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from drone_ops.store.config import StoreConfig
from drone_ops.store.engine import write_tx
from drone_ops.store.errors import StoreSchemaError

__all__ = ["HEAD_REVISION", "current_revision", "head_revision", "upgrade"]

# Arbitrary but fixed: "drone-ops" as a 63-bit number, shared by all controllers.
_PG_LOCK_KEY = 0x64726F6E652D6F70
HEAD_REVISION = "0002"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "drone_ops.store:migrations")
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    rev: str | None = MigrationContext.configure(conn).get_current_revision()
    return rev


def upgrade(engine: Engine, config: StoreConfig) -> str:
    """Migrate to head; refuse a schema newer than this software. Returns the revision."""
    cfg = _alembic_config()
    script = ScriptDirectory.from_config(cfg)
    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        current = current_revision(conn)
        if current is not None:
            try:
                script.get_revision(current)
            except CommandError as exc:
                raise StoreSchemaError(
                    f"store {config.display()} has schema revision {current}, newer than this "
                    f"drone-ops knows (head {script.get_current_head()}): upgrade drone-ops"
                ) from exc
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        final = current_revision(conn)
    if final != script.get_current_head():
        raise StoreSchemaError(
            f"store {config.display()} is at schema revision {final}, expected "
            f"{script.get_current_head()}: run the migration again or restore a backup"
        )
    return final or ""
