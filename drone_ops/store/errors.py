"""Store errors. Each message says what is wrong and what to do, in one line."""

from __future__ import annotations

from drone_ops.errors import DroneOpsError

__all__ = [
    "NotFoundError",
    "StoreConfigError",
    "StoreError",
    "StoreLockedError",
    "StoreSchemaError",
    "StoreUnreachableError",
]


class StoreError(DroneOpsError):
    """Base for every incident-store error."""


class StoreConfigError(StoreError, ValueError):
    """The store URL or options are not usable."""


class StoreUnreachableError(StoreError):
    """The database server cannot be reached or refused the login."""


class StoreLockedError(StoreError):
    """Another process holds the SQLite write lock for longer than the busy timeout."""


class StoreSchemaError(StoreError):
    """The database schema is not one this version of drone-ops understands."""


class NotFoundError(StoreError, LookupError):
    """A record asked for by id does not exist."""
