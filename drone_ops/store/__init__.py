"""The incident store: SQLite (embedded) or PostgreSQL (shared), one schema.

Open with `async with open_store("sqlite:///var/drone-ops.db") as store:`;
`store.audit` is the persistent `AuditLog`; `StoreWriter` is the telemetry sink.
"""

from drone_ops.store.audit_chain import ChainProblem, ChainSummary, StoreAuditLog
from drone_ops.store.config import DEFAULT_STORE_URL, StoreConfig
from drone_ops.store.errors import (
    NotFoundError,
    StoreConfigError,
    StoreError,
    StoreLockedError,
    StoreSchemaError,
    StoreUnreachableError,
)
from drone_ops.store.records import (
    SortieOutcome,
    SortieRecord,
    VideoGapRecord,
    VideoSegment,
    now_us,
)
from drone_ops.store.store import Store, open_store
from drone_ops.store.writer import StoreWriter, WriterStats

__all__ = [
    "DEFAULT_STORE_URL",
    "ChainProblem",
    "ChainSummary",
    "NotFoundError",
    "SortieOutcome",
    "SortieRecord",
    "Store",
    "StoreAuditLog",
    "StoreConfig",
    "StoreConfigError",
    "StoreError",
    "StoreLockedError",
    "StoreSchemaError",
    "StoreUnreachableError",
    "StoreWriter",
    "VideoGapRecord",
    "VideoSegment",
    "WriterStats",
    "now_us",
    "open_store",
]
