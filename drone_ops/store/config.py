"""Where the store lives: one typed config built from a URL.

`sqlite:///path` (or a bare path) is the embedded default; `postgresql://…` is
the shared store for several controllers. PostgreSQL URLs are mapped to the
psycopg 3 driver, the one we ship.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from drone_ops.store.errors import StoreConfigError

__all__ = ["DEFAULT_STORE_URL", "StoreConfig"]

DEFAULT_STORE_URL = "sqlite:///var/drone-ops.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """Store location and policy; `evidence_dir` defaults next to a SQLite file."""

    url: str = DEFAULT_STORE_URL
    evidence_dir: Path | None = None
    busy_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    # How long a write that must not be lost (audit entry, sortie record, incident)
    # waits for an unreachable store before it fails: a server restart fits in it.
    outage_s: float = 30.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.busy_timeout_s) and self.busy_timeout_s > 0):
            raise StoreConfigError(f"busy timeout {self.busy_timeout_s!r} s must be > 0")
        if not (math.isfinite(self.connect_timeout_s) and self.connect_timeout_s > 0):
            raise StoreConfigError(f"connect timeout {self.connect_timeout_s!r} s must be > 0")
        if not (math.isfinite(self.outage_s) and self.outage_s >= 0):
            raise StoreConfigError(f"outage wait {self.outage_s!r} s must be >= 0")
        self.sqlalchemy_url()  # fail early on a bad URL

    def sqlalchemy_url(self) -> URL:
        """The URL with our driver chosen: pysqlite or psycopg 3."""
        raw = self.url.strip()
        if "://" not in raw:
            raw = f"sqlite:///{raw}"
        try:
            url = make_url(raw)
        except ArgumentError as exc:
            raise StoreConfigError(
                f"store URL {self.url!r} is not a URL: use sqlite:///PATH or postgresql://HOST/DB"
            ) from exc
        backend = url.get_backend_name()
        if backend == "sqlite":
            if not url.database or url.database == ":memory:":
                raise StoreConfigError(
                    "an in-memory SQLite store would be lost on exit: use sqlite:///PATH"
                )
            return url.set(drivername="sqlite")
        if backend in ("postgresql", "postgres"):
            if not url.database:
                raise StoreConfigError(
                    f"store URL {self.url!r} names no database: use postgresql://HOST/DBNAME"
                )
            return url.set(drivername="postgresql+psycopg")
        raise StoreConfigError(
            f"store URL scheme {url.drivername!r} is not supported: use sqlite:/// or postgresql://"
        )

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url().get_backend_name() == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        url = self.sqlalchemy_url()
        if url.get_backend_name() != "sqlite" or url.database is None:
            return None
        return Path(url.database)

    def resolved_evidence_dir(self) -> Path:
        """Blob directory: explicit, else `evidence/` beside the SQLite file, else ./var."""
        if self.evidence_dir is not None:
            return self.evidence_dir
        path = self.sqlite_path
        if path is not None:
            return path.parent / "evidence"
        return Path("var") / "evidence"

    def display(self) -> str:
        """The URL with any password hidden, for messages."""
        return self.sqlalchemy_url().render_as_string(hide_password=True)
