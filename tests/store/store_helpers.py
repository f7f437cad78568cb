"""Helpers shared by the store tests: real TelemetrySamples, raw SQL behind our back."""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import psycopg

from drone_ops.store import Store
from telemetry.sample import TelemetrySample

T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def track(
    vehicle_id: str = "v1",
    n: int = 100,
    *,
    start_us: int = T0_US,
    step_us: int = 100_000,
    lat0: float = 52.0,
    lon0: float = 4.0,
    battery0: float = 90.0,
    battery_step: float = 0.0,
) -> list[TelemetrySample]:
    """A straight eastward flight, one sample per `step_us`."""
    return [
        TelemetrySample(
            vehicle_id=vehicle_id,
            time_unix_us=start_us + i * step_us,
            boot_time_ms=1000 + i * step_us // 1000,
            lat_deg=lat0,
            lon_deg=lon0 + i * 1e-5,
            alt_amsl_m=30.0 + i * 0.01,
            rel_alt_m=20.0,
            vn_m_s=0.0,
            ve_m_s=5.0,
            vd_m_s=0.0,
            heading_deg=90.0,
            battery_pct=battery0 - i * battery_step,
            battery_v=15.8,
            gps_fix=3,
            satellites=12,
            mode="AUTO.MISSION",
            armed=True,
            landed_state="IN_AIR",
            mission_seq=i % 5,
            mission_total=5,
            link_rate_hz=50.0,
        )
        for i in range(n)
    ]


def raw_sql(store: Store, *statements: str) -> None:
    """Edit the database behind the software's back, as a superuser could."""
    url = store.config.sqlalchemy_url()
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), isolation_level=None)
        try:
            for s in statements:
                conn.execute(s)
        finally:
            conn.close()
    else:
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for s in statements:
                conn.execute(s)  # type: ignore[arg-type]


def disable_guard(store: Store) -> list[str]:
    if store.config.is_sqlite:
        return ["DROP TRIGGER audit_entries_no_update", "DROP TRIGGER audit_entries_no_delete"]
    return ["ALTER TABLE audit_entries DISABLE TRIGGER USER"]


class PrivatePostgres:
    """A PostgreSQL server of our own on a free port, for tests that stop and start it.

    PostgreSQL refuses to run as root, so its data directory (in /tmp, which the
    postgres user can reach) is owned by `postgres` and every binary runs via
    `runuser`. `pg_ctl -w` waits for the server to be ready or gone.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="drone-ops-pg-"))
        self.data = self.root / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        shutil.chown(self.root, "postgres", "postgres")
        self._pg(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args],
            check=True,
            capture_output=True,
            cwd=self.root,
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg(
            "pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start"
        )

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql"))
