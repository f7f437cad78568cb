"""The incident store: one async API over SQLite or PostgreSQL.

Every method runs its blocking database work in a worker thread (see
`drone_ops.store.engine` for why). Changes that matter for accountability
(sorties opened and closed, incidents, evidence) are written together with
their audit entry in one transaction; the sortie records and the audit chain
wait out a short outage and are written exactly once (`run_durable`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import and_, delete, func, select, text, union, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from drone_ops.audit import AuditEntry
from drone_ops.store.audit_chain import StoreAuditLog, append_in_tx
from drone_ops.store.config import StoreConfig
from drone_ops.store.durable import Recover, StoreOutage, durable_call
from drone_ops.store.engine import make_engine, read_tx, translate_errors, write_tx
from drone_ops.store.errors import NotFoundError, StoreConfigError
from drone_ops.store.migrate import upgrade
from drone_ops.store.records import (
    SortieOutcome,
    SortieRecord,
    VideoGapRecord,
    VideoSegment,
    iso_from_us,
    now_us,
)
from drone_ops.store.schema import (
    evidence,
    incidents,
    sorties,
    telemetry,
    vehicles,
    video_gaps,
    video_segments,
)
from drone_ops.store.telemetry_rows import insert_samples, sample_from_row
from telemetry.sample import TelemetrySample

__all__ = ["Store", "open_store"]

T = TypeVar("T")

# Evidence kinds whose time span is footage (EvidenceKind.VIDEO / .SNAPSHOT in incidents).
_VIDEO_EVIDENCE_KINDS = ("video", "snapshot")

_TOUCH_VEHICLE = text(
    "UPDATE vehicles SET last_seen_us = :t WHERE vehicle_id = :v AND last_seen_us < :t"
)


def upsert_vehicle(
    conn: Connection, vehicle_id: str, seen_us: int, system_id: int | None = None
) -> None:
    """Create the vehicle row or move its last-seen time forward."""
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = ins(vehicles).values(
        vehicle_id=vehicle_id, system_id=system_id, first_seen_us=seen_us, last_seen_us=seen_us
    )
    set_: dict[str, Any] = {
        "last_seen_us": func.max(vehicles.c.last_seen_us, stmt.excluded.last_seen_us)
        if conn.dialect.name == "sqlite"
        else func.greatest(vehicles.c.last_seen_us, stmt.excluded.last_seen_us)
    }
    if system_id is not None:
        set_["system_id"] = system_id
    conn.execute(stmt.on_conflict_do_update(index_elements=["vehicle_id"], set_=set_))


def _sortie(row: Any) -> SortieRecord:
    return SortieRecord(
        sortie_id=int(row.sortie_id),
        vehicle_id=row.vehicle_id,
        plan_name=row.plan_name,
        plan_json=row.plan_json,
        started_us=int(row.started_us),
        ended_us=None if row.ended_us is None else int(row.ended_us),
        outcome=None if row.outcome is None else SortieOutcome(row.outcome),
        tlog_path=row.tlog_path,
        controller=row.controller,
    )


def _sortie_id_of(_conn: Connection, entry: AuditEntry) -> int:
    """The sortie a committed `sortie.open` entry names (target `sortie:<id>`)."""
    return int(entry.target.partition(":")[2])


def track_feature(
    samples: Sequence[TelemetrySample], properties: Mapping[str, Any]
) -> dict[str, Any]:
    """A GeoJSON Feature (RFC 7946): LineString of [lon, lat, alt AMSL] with times."""
    coords: list[list[float]] = []
    times: list[str] = []
    for s in samples:
        if s.lat_deg is None or s.lon_deg is None:
            continue
        point = [s.lon_deg, s.lat_deg]
        if s.alt_amsl_m is not None:
            point.append(s.alt_amsl_m)
        coords.append(point)
        times.append(iso_from_us(s.time_unix_us))
    geometry: dict[str, Any] | None
    if len(coords) >= 2:
        geometry = {"type": "LineString", "coordinates": coords}
    elif coords:
        geometry = {"type": "Point", "coordinates": coords[0]}
    else:
        geometry = None
    props = dict(properties)
    props["samples"] = len(samples)
    props["coordTimes"] = times  # the de-facto per-vertex time convention (togeojson)
    return {"type": "Feature", "geometry": geometry, "properties": props}


class Store:
    """An open store. Get one with `open_store`; `audit` is its `AuditLog`."""

    def __init__(self, engine: Engine, config: StoreConfig) -> None:
        self.engine = engine
        self.config = config
        self.outage = StoreOutage()  # shared by every write that waits out an outage
        self.audit = StoreAuditLog(engine, config, outage=self.outage)
        self._open_sorties: dict[str, int] = {}
        self._known_vehicles: set[str] = set()

    @property
    def evidence_dir(self) -> Path:
        return self.config.resolved_evidence_dir()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking store work in a worker thread, translating driver errors."""

        def call() -> T:
            with translate_errors(self.config):
                return fn(*args)

        return await asyncio.to_thread(call)

    async def run_durable(
        self,
        fn: Callable[[], T],
        *,
        what: str,
        recover: Recover[T] | None = None,
        repeatable: bool = False,
    ) -> T:
        """Run one write transaction that appends an audit entry, exactly once.

        It waits out an outage of up to `config.outage_s`, then raises a
        one-line `StoreUnreachableError` naming `what`; `recover` rebuilds the
        result from the committed rows when an attempt's answer was lost, or
        `repeatable` says `fn` itself finds what such an attempt did.
        """
        return await durable_call(
            self.engine,
            self.config,
            self.outage,
            fn,
            what=what,
            recover=recover,
            repeatable=repeatable,
        )

    # ------------------------------------------------------------ vehicles, sorties
    async def register_vehicle(self, vehicle_id: str, *, system_id: int | None = None) -> None:
        def work() -> None:
            with write_tx(self.engine) as conn:
                upsert_vehicle(conn, vehicle_id, now_us(), system_id)

        await self.run(work)

    async def open_sortie(
        self,
        *,
        vehicle_id: str,
        plan_name: str,
        plan_json: str | Mapping[str, Any],
        actor: str = "controller",
        started_us: int | None = None,
        tlog_path: str | None = None,
        controller: str | None = None,
    ) -> int:
        """Record a sortie's start; samples from this vehicle are tagged with it until closed."""
        text = plan_json if isinstance(plan_json, str) else json.dumps(plan_json, sort_keys=True)
        start = now_us() if started_us is None else started_us

        def work() -> int:
            with write_tx(self.engine) as conn:
                upsert_vehicle(conn, vehicle_id, start)
                sortie_id = int(
                    conn.execute(
                        sorties.insert()
                        .values(
                            vehicle_id=vehicle_id,
                            plan_name=plan_name,
                            plan_json=text,
                            started_us=start,
                            tlog_path=tlog_path,
                            controller=controller,
                        )
                        .returning(sorties.c.sortie_id)
                    ).scalar_one()
                )
                append_in_tx(
                    conn,
                    actor=actor,
                    action="sortie.open",
                    target=f"sortie:{sortie_id}",
                    payload={"vehicle_id": vehicle_id, "plan_name": plan_name, "started_us": start},
                )
                return sortie_id

        sortie_id = await self.run_durable(
            work, what=f"sortie of {vehicle_id} ({plan_name})", recover=_sortie_id_of
        )
        self._open_sorties[vehicle_id] = sortie_id
        return sortie_id

    async def close_sortie(
        self,
        sortie_id: int,
        *,
        outcome: SortieOutcome | str,
        actor: str = "controller",
        ended_us: int | None = None,
        tlog_path: str | None = None,
    ) -> SortieRecord:
        try:
            result = SortieOutcome(outcome)
        except ValueError as exc:
            raise StoreConfigError(
                f"sortie outcome {outcome!r} is unknown: use one of "
                f"{', '.join(o.value for o in SortieOutcome)}"
            ) from exc
        end = now_us() if ended_us is None else ended_us

        def work() -> SortieRecord:
            with write_tx(self.engine) as conn:
                values: dict[str, Any] = {"ended_us": end, "outcome": result.value}
                if tlog_path is not None:
                    values["tlog_path"] = tlog_path
                done = conn.execute(
                    update(sorties)
                    .where(sorties.c.sortie_id == sortie_id, sorties.c.ended_us.is_(None))
                    .values(**values)
                )
                if done.rowcount != 1:
                    row = conn.execute(
                        select(sorties).where(sorties.c.sortie_id == sortie_id)
                    ).one_or_none()
                    if row is None:
                        raise NotFoundError(f"sortie {sortie_id} does not exist")
                    return _sortie(row)  # already closed: closing twice is harmless
                append_in_tx(
                    conn,
                    actor=actor,
                    action="sortie.close",
                    target=f"sortie:{sortie_id}",
                    payload={"outcome": result.value, "ended_us": end},
                )
                return _sortie(
                    conn.execute(select(sorties).where(sorties.c.sortie_id == sortie_id)).one()
                )

        def reload(conn: Connection, _entry: AuditEntry) -> SortieRecord:
            return _sortie(
                conn.execute(select(sorties).where(sorties.c.sortie_id == sortie_id)).one()
            )

        # Repeatable: `work` closes only an open row, so a retry after a lost COMMIT
        # answer finds the row closed and returns it, with or without its entry.
        record = await self.run_durable(
            work,
            what=f"close of sortie {sortie_id} ({result.value})",
            recover=reload,
            repeatable=True,
        )
        if self._open_sorties.get(record.vehicle_id) == sortie_id:
            del self._open_sorties[record.vehicle_id]
        return record

    async def sortie(self, sortie_id: int) -> SortieRecord:
        def work() -> SortieRecord:
            with read_tx(self.engine) as conn:
                row = conn.execute(
                    select(sorties).where(sorties.c.sortie_id == sortie_id)
                ).one_or_none()
            if row is None:
                raise NotFoundError(f"sortie {sortie_id} does not exist: list them with sorties")
            return _sortie(row)

        return await self.run(work)

    async def sorties(
        self, *, vehicle_id: str | None = None, limit: int = 100
    ) -> list[SortieRecord]:
        def work() -> list[SortieRecord]:
            query = select(sorties).order_by(sorties.c.started_us.desc()).limit(limit)
            if vehicle_id is not None:
                query = query.where(sorties.c.vehicle_id == vehicle_id)
            with read_tx(self.engine) as conn:
                return [_sortie(r) for r in conn.execute(query)]

        return await self.run(work)

    def open_sortie_ids(self) -> dict[str, int]:
        """Vehicle → sortie opened by this controller and not yet closed."""
        return dict(self._open_sorties)

    async def sortie_at(self, vehicle_id: str, time_unix_us: int) -> int | None:
        """The vehicle's sortie flying at that moment (by any controller), if any."""

        def work() -> int | None:
            query = (
                select(sorties.c.sortie_id)
                .where(
                    sorties.c.vehicle_id == vehicle_id,
                    sorties.c.started_us <= time_unix_us,
                    (sorties.c.ended_us.is_(None)) | (sorties.c.ended_us >= time_unix_us),
                )
                .order_by(sorties.c.started_us.desc())
                .limit(1)
            )
            with read_tx(self.engine) as conn:
                found = conn.execute(query).scalar_one_or_none()
            return None if found is None else int(found)

        return await self.run(work)

    # ------------------------------------------------------------ telemetry
    def write_samples_sync(self, samples: Sequence[TelemetrySample]) -> int:
        """Write one batch in one transaction (blocking; `write_samples` is the async form).

        Vehicles are registered the first time this store sees them and their
        last-seen time moves forward with one statement per batch, so the cost
        per batch stays that of the bulk insert.
        """
        if not samples:
            return 0
        last_seen: dict[str, int] = {}
        for s in samples:
            if s.time_unix_us > last_seen.get(s.vehicle_id, -1):
                last_seen[s.vehicle_id] = s.time_unix_us
        with translate_errors(self.config), write_tx(self.engine) as conn:
            for vehicle_id in last_seen.keys() - self._known_vehicles:
                upsert_vehicle(conn, vehicle_id, last_seen[vehicle_id])
            conn.execute(_TOUCH_VEHICLE, [{"v": v, "t": t} for v, t in last_seen.items()])
            insert_samples(conn, samples, dict(self._open_sorties))
        self._known_vehicles.update(last_seen)
        return len(samples)

    async def write_samples(self, samples: Sequence[TelemetrySample]) -> int:
        """Write one batch; samples of a vehicle with an open sortie are tagged with it."""
        return await asyncio.to_thread(self.write_samples_sync, list(samples))

    async def samples_between(
        self, vehicle_id: str, t0_us: int, t1_us: int, *, limit: int | None = None
    ) -> list[TelemetrySample]:
        def work() -> list[TelemetrySample]:
            query = (
                select(telemetry)
                .where(
                    telemetry.c.vehicle_id == vehicle_id,
                    telemetry.c.time_unix_us >= t0_us,
                    telemetry.c.time_unix_us <= t1_us,
                )
                .order_by(telemetry.c.time_unix_us, telemetry.c.sample_id)
            )
            if limit is not None:
                query = query.limit(limit)
            with read_tx(self.engine) as conn:
                return [sample_from_row(r) for r in conn.execute(query)]

        return await self.run(work)

    async def telemetry_window(
        self, vehicle_id: str, center_us: int, *, before_s: float = 30.0, after_s: float = 30.0
    ) -> list[TelemetrySample]:
        """A vehicle's samples from `before_s` before to `after_s` after a moment."""
        if before_s < 0 or after_s < 0:
            raise StoreConfigError("a telemetry window needs before/after >= 0 seconds")
        return await self.samples_between(
            vehicle_id, center_us - int(before_s * 1e6), center_us + int(after_s * 1e6)
        )

    async def latest_sample(self, vehicle_id: str) -> TelemetrySample | None:
        def work() -> TelemetrySample | None:
            query = (
                select(telemetry)
                .where(telemetry.c.vehicle_id == vehicle_id)
                .order_by(telemetry.c.time_unix_us.desc(), telemetry.c.sample_id.desc())
                .limit(1)
            )
            with read_tx(self.engine) as conn:
                row = conn.execute(query).one_or_none()
            return None if row is None else sample_from_row(row)

        return await self.run(work)

    async def sortie_samples(self, sortie_id: int) -> list[TelemetrySample]:
        """The sortie's samples: its vehicle between start and end (or now, if still open)."""
        record = await self.sortie(sortie_id)
        end = record.ended_us if record.ended_us is not None else now_us()
        return await self.samples_between(record.vehicle_id, record.started_us, end)

    async def sortie_track_geojson(self, sortie_id: int) -> dict[str, Any]:
        record = await self.sortie(sortie_id)
        samples = await self.sortie_samples(sortie_id)
        return track_feature(
            samples,
            {
                "sortie_id": record.sortie_id,
                "vehicle_id": record.vehicle_id,
                "plan_name": record.plan_name,
                "started": iso_from_us(record.started_us),
                "ended": None if record.ended_us is None else iso_from_us(record.ended_us),
                "outcome": None if record.outcome is None else record.outcome.value,
            },
        )

    async def count_samples(self, vehicle_id: str | None = None) -> int:
        def work() -> int:
            query = select(func.count()).select_from(telemetry)
            if vehicle_id is not None:
                query = query.where(telemetry.c.vehicle_id == vehicle_id)
            with read_tx(self.engine) as conn:
                return int(conn.execute(query).scalar_one())

        return await self.run(work)

    # ------------------------------------------------------------ video segments
    async def add_video_segment(
        self,
        *,
        vehicle_id: str,
        start_us: int,
        end_us: int,
        path: str,
        sha256: str,
        size_bytes: int,
    ) -> int:
        """Record one finished video segment file (the video ingest calls this)."""
        if end_us < start_us:
            raise StoreConfigError(f"video segment {path}: end is before start")
        if len(sha256) != 64:
            raise StoreConfigError(f"video segment {path}: sha256 must be 64 hex digits")

        def work() -> int:
            with write_tx(self.engine) as conn:
                return int(
                    conn.execute(
                        video_segments.insert()
                        .values(
                            vehicle_id=vehicle_id,
                            start_us=start_us,
                            end_us=end_us,
                            path=path,
                            sha256=sha256.lower(),
                            size_bytes=size_bytes,
                        )
                        .returning(video_segments.c.segment_id)
                    ).scalar_one()
                )

        return await self.run(work)

    async def segments_between(self, vehicle_id: str, t0_us: int, t1_us: int) -> list[VideoSegment]:
        """Segments of a vehicle overlapping [t0, t1], in time order."""

        def work() -> list[VideoSegment]:
            query = (
                select(video_segments)
                .where(
                    video_segments.c.vehicle_id == vehicle_id,
                    and_(video_segments.c.start_us <= t1_us, video_segments.c.end_us >= t0_us),
                )
                .order_by(video_segments.c.start_us)
            )
            with read_tx(self.engine) as conn:
                return [_segment(r) for r in conn.execute(query)]

        return await self.run(work)

    async def video_segments_ended_before(self, end_before_us: int) -> list[VideoSegment]:
        """Segments of every vehicle that ended before `end_before_us`, oldest first
        (what retention may remove)."""

        def work() -> list[VideoSegment]:
            query = (
                select(video_segments)
                .where(video_segments.c.end_us < end_before_us)
                .order_by(video_segments.c.start_us, video_segments.c.segment_id)
            )
            with read_tx(self.engine) as conn:
                return [_segment(r) for r in conn.execute(query)]

        return await self.run(work)

    async def referenced_video_paths(self) -> set[str]:
        """Footage incidents need: segments overlapping the span of any incident's video
        or snapshot evidence (same vehicle), and the paths of that evidence itself."""
        covering = (
            select(video_segments.c.path)
            .join(incidents, incidents.c.vehicle_id == video_segments.c.vehicle_id)
            .join(evidence, evidence.c.incident_id == incidents.c.incident_id)
            .where(
                evidence.c.kind.in_(_VIDEO_EVIDENCE_KINDS),
                evidence.c.t0_us.is_not(None),
                evidence.c.t1_us.is_not(None),
                video_segments.c.start_us <= evidence.c.t1_us,
                video_segments.c.end_us >= evidence.c.t0_us,
            )
        )
        recorded = select(evidence.c.path).where(evidence.c.kind.in_(_VIDEO_EVIDENCE_KINDS))

        def work() -> set[str]:
            with read_tx(self.engine) as conn:
                return {str(p) for p in conn.execute(union(covering, recorded)).scalars()}

        return await self.run(work)

    async def remove_video_segment(self, segment_id: int) -> None:
        """Forget one segment (retention removes its file next); unknown ids are ignored."""

        def work() -> None:
            with write_tx(self.engine) as conn:
                conn.execute(
                    delete(video_segments).where(video_segments.c.segment_id == segment_id)
                )

        await self.run(work)

    async def add_video_gap(self, *, vehicle_id: str, start_us: int, end_us: int) -> None:
        """Record that `vehicle_id` sent no usable video between start and end."""
        if end_us < start_us:
            raise StoreConfigError(f"video gap of {vehicle_id}: end is before start")

        def work() -> None:
            with write_tx(self.engine) as conn:
                conn.execute(
                    video_gaps.insert().values(
                        vehicle_id=vehicle_id, start_us=start_us, end_us=end_us
                    )
                )

        await self.run(work)

    async def video_gaps_between(
        self, vehicle_id: str, t0_us: int, t1_us: int
    ) -> list[VideoGapRecord]:
        """Gaps of a vehicle's video overlapping [t0, t1], in time order."""

        def work() -> list[VideoGapRecord]:
            query = (
                select(video_gaps)
                .where(
                    video_gaps.c.vehicle_id == vehicle_id,
                    video_gaps.c.start_us <= t1_us,
                    video_gaps.c.end_us >= t0_us,
                )
                .order_by(video_gaps.c.start_us, video_gaps.c.gap_id)
            )
            with read_tx(self.engine) as conn:
                return [
                    VideoGapRecord(
                        gap_id=int(r.gap_id),
                        vehicle_id=r.vehicle_id,
                        start_us=int(r.start_us),
                        end_us=int(r.end_us),
                    )
                    for r in conn.execute(query)
                ]

        return await self.run(work)


def _segment(r: Any) -> VideoSegment:
    return VideoSegment(
        segment_id=int(r.segment_id),
        vehicle_id=r.vehicle_id,
        start_us=int(r.start_us),
        end_us=int(r.end_us),
        path=r.path,
        sha256=r.sha256,
        size_bytes=int(r.size_bytes),
    )


@asynccontextmanager
async def open_store(config: StoreConfig | str | None = None) -> AsyncIterator[Store]:
    """Open (and migrate, if needed) a store; leaving closes every connection."""
    if config is None:
        config = StoreConfig()
    elif isinstance(config, str):
        config = StoreConfig(url=config)
    engine = make_engine(config)
    try:
        await asyncio.to_thread(_migrate, engine, config)
        yield Store(engine, config)
    finally:
        await asyncio.to_thread(engine.dispose)


def _migrate(engine: Engine, config: StoreConfig) -> None:
    with translate_errors(config):
        upgrade(engine, config)
