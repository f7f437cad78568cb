"""The store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are integer microseconds since the Unix epoch (UTC) so both engines
compare and index them alike; the audit chain keeps its ISO text time exactly
as it was hashed. The migrations in `drone_ops.store.migrations` create these
tables; a test checks the two never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "audit_entries",
    "audit_head",
    "controller_leases",
    "evidence",
    "incident_notes",
    "incidents",
    "metadata",
    "schedule_runs",
    "schedules",
    "sorties",
    "telemetry",
    "vehicles",
    "video_gaps",
    "video_segments",
]

metadata = MetaData()

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

vehicles = Table(
    "vehicles",
    metadata,
    Column("vehicle_id", String(64), primary_key=True),
    Column("system_id", Integer, nullable=True),
    Column("first_seen_us", BigInteger, nullable=False),
    Column("last_seen_us", BigInteger, nullable=False),
)

sorties = Table(
    "sorties",
    metadata,
    Column("sortie_id", Id, primary_key=True, autoincrement=True),
    Column("vehicle_id", String(64), ForeignKey("vehicles.vehicle_id"), nullable=False),
    Column("plan_name", String(200), nullable=False),
    Column("plan_json", Text, nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("ended_us", BigInteger, nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("tlog_path", Text, nullable=True),
    Column("controller", String(200), nullable=True),
    Index("ix_sorties_vehicle_started", "vehicle_id", "started_us"),
)

telemetry = Table(
    "telemetry",
    metadata,
    Column("sample_id", Id, primary_key=True, autoincrement=True),
    Column("sortie_id", BigInteger, nullable=True),
    Column("vehicle_id", String(64), nullable=False),
    Column("time_unix_us", BigInteger, nullable=False),
    Column("boot_time_ms", BigInteger, nullable=False),
    Column("lat_deg", Float, nullable=True),
    Column("lon_deg", Float, nullable=True),
    Column("alt_amsl_m", Float, nullable=True),
    Column("rel_alt_m", Float, nullable=True),
    Column("vn_m_s", Float, nullable=True),
    Column("ve_m_s", Float, nullable=True),
    Column("vd_m_s", Float, nullable=True),
    Column("roll_deg", Float, nullable=True),
    Column("pitch_deg", Float, nullable=True),
    Column("heading_deg", Float, nullable=True),
    Column("battery_pct", Float, nullable=True),
    Column("battery_v", Float, nullable=True),
    Column("battery_min_left", Float, nullable=True),
    Column("gps_fix", Integer, nullable=True),
    Column("satellites", Integer, nullable=True),
    Column("mode", String(64), nullable=False),
    Column("armed", Boolean, nullable=False),
    Column("landed_state", String(32), nullable=False),
    Column("mission_seq", Integer, nullable=True),
    Column("mission_total", Integer, nullable=True),
    Column("link_rate_hz", Float, nullable=True),
    Column("link_loss_pct", Float, nullable=True),
    Index("ix_telemetry_vehicle_time", "vehicle_id", "time_unix_us"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("time_unix_us", BigInteger, nullable=False),
    Column("lat_deg", Float, nullable=True),
    Column("lon_deg", Float, nullable=True),
    Column("alt_amsl_m", Float, nullable=True),
    Column("vehicle_id", String(64), nullable=True),
    Column("sortie_id", BigInteger, nullable=True),
    Column("summary", Text, nullable=False),
    Column("raised_by", String(200), nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_incidents_time", "time_unix_us"),
    Index("ix_incidents_status", "status"),
    Index("ix_incidents_vehicle", "vehicle_id"),
)

incident_notes = Table(
    "incident_notes",
    metadata,
    Column("note_id", Id, primary_key=True, autoincrement=True),
    Column(
        "incident_id", BigInteger, ForeignKey("incidents.incident_id"), nullable=False, index=True
    ),
    Column("time_unix_us", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("text", Text, nullable=False),
)

evidence = Table(
    "evidence",
    metadata,
    Column("evidence_id", Id, primary_key=True, autoincrement=True),
    Column(
        "incident_id", BigInteger, ForeignKey("incidents.incident_id"), nullable=True, index=True
    ),
    Column("kind", String(32), nullable=False),
    Column("path", Text, nullable=False),  # relative to the evidence directory, or a URI
    Column("media_type", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("t0_us", BigInteger, nullable=True),
    Column("t1_us", BigInteger, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("audit_seq", BigInteger, nullable=True),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time_utc", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(200), nullable=False, index=True),
    Column("payload_json", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

# One row: the chain head. Appenders lock it (FOR UPDATE) to serialise writers.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="ck_audit_head_single_row"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("schedule_id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("cron", String(100), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("plan_name", String(200), nullable=False),
    Column("plan_json", Text, nullable=False),
    Column("vehicle_id", String(64), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("next_due_us", BigInteger, nullable=True),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("run_id", Id, primary_key=True, autoincrement=True),
    Column(
        "schedule_id", BigInteger, ForeignKey("schedules.schedule_id"), nullable=False, index=True
    ),
    Column("due_us", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_us", BigInteger, nullable=True),
    Column("sortie_id", BigInteger, nullable=True),
    Column("finished_us", BigInteger, nullable=True),
    Column("detail", Text, nullable=True),
    UniqueConstraint("schedule_id", "due_us", name="uq_schedule_runs_due"),
)

video_segments = Table(
    "video_segments",
    metadata,
    Column("segment_id", Id, primary_key=True, autoincrement=True),
    Column("vehicle_id", String(64), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Index("ix_video_segments_vehicle_start", "vehicle_id", "start_us"),
    Index("ix_video_segments_end", "end_us"),  # 0002: retention finds old segments by end
)

# 0002: spans with no usable video from a vehicle (stream lost or damaged).
video_gaps = Table(
    "video_gaps",
    metadata,
    Column("gap_id", Id, primary_key=True, autoincrement=True),
    Column("vehicle_id", String(64), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Index("ix_video_gaps_vehicle_start", "vehicle_id", "start_us"),
)

controller_leases = Table(
    "controller_leases",
    metadata,
    Column("vehicle_id", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("fencing_token", BigInteger, nullable=False),
)
