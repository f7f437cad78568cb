"""TelemetrySample ⇄ table rows, and the bulk write paths of each engine.

SQLite takes one `executemany` of plain tuples on the driver connection;
PostgreSQL takes `COPY … FROM STDIN`. Both skip SQLAlchemy's per-row
parameter processing, which would otherwise cost more than the database.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from telemetry.sample import TelemetrySample

__all__ = ["SAMPLE_FIELDS", "insert_samples", "sample_from_row"]

SAMPLE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TelemetrySample))
_COLUMNS = ("sortie_id", *SAMPLE_FIELDS)
_get_fields = operator.attrgetter(*SAMPLE_FIELDS)
_SQLITE_INSERT = (
    f"INSERT INTO telemetry ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)
_PG_COPY = f"COPY telemetry ({', '.join(_COLUMNS)}) FROM STDIN"


def _rows(
    samples: Iterable[TelemetrySample], sortie_ids: dict[str, int]
) -> Iterable[tuple[Any, ...]]:
    get = sortie_ids.get
    for s in samples:
        yield (get(s.vehicle_id), *_get_fields(s))


def insert_samples(
    conn: Connection, samples: Sequence[TelemetrySample], sortie_ids: dict[str, int]
) -> None:
    """Bulk-insert inside the caller's transaction; `sortie_ids` maps vehicle → open sortie."""
    driver = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        driver.executemany(_SQLITE_INSERT, _rows(samples, sortie_ids))  # type: ignore[union-attr]
        return
    with driver.cursor() as cur, cur.copy(_PG_COPY) as copy:  # type: ignore[union-attr]
        for row in _rows(samples, sortie_ids):
            copy.write_row(row)


def sample_from_row(row: Any) -> TelemetrySample:
    m = row._mapping
    values = {name: m[name] for name in SAMPLE_FIELDS}
    values["armed"] = bool(values["armed"])
    return TelemetrySample(**values)
