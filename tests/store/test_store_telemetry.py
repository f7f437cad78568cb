"""Telemetry into the store: batched writes, sortie tracks, windows, the writer, video."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from store_helpers import T0_US, PrivatePostgres, track

from drone_ops.store import (
    SortieOutcome,
    Store,
    StoreConfig,
    StoreConfigError,
    StoreWriter,
    open_store,
)
from telemetry.bus import Policy, TelemetryBus
from telemetry.sample import TelemetrySample


async def test_a_batch_round_trips_every_field(store: Store) -> None:
    samples = track("v1", 250)
    assert await store.write_samples(samples) == 250
    back = await store.samples_between("v1", T0_US, T0_US + 10**9)
    assert back == samples  # every field, None and bool included
    assert await store.count_samples("v2") == 0


async def test_sortie_track_is_geojson_linestring_of_its_samples(store: Store) -> None:
    before = track("v1", 5, start_us=T0_US - 10_000_000)
    await store.write_samples(before)
    sortie_id = await store.open_sortie(
        vehicle_id="v1", plan_name="harbour", plan_json={"items": []}, started_us=T0_US
    )
    flight = track("v1", 40)
    await store.write_samples(flight)
    await store.write_samples(track("v2", 40))  # another vehicle, same time
    record = await store.close_sortie(
        sortie_id, outcome=SortieOutcome.COMPLETED, ended_us=T0_US + 40 * 100_000
    )
    assert record.outcome is SortieOutcome.COMPLETED
    feature = await store.sortie_track_geojson(sortie_id)
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "LineString"
    coords = feature["geometry"]["coordinates"]
    assert len(coords) == 40
    assert coords[0] == [flight[0].lon_deg, flight[0].lat_deg, flight[0].alt_amsl_m]
    assert feature["properties"]["plan_name"] == "harbour"
    assert feature["properties"]["outcome"] == "completed"
    assert len(feature["properties"]["coordTimes"]) == 40
    # the sortie and its close are on the audit chain
    actions = [e.action for e in await store.audit.entries(target=f"sortie:{sortie_id}")]
    assert actions == ["sortie.open", "sortie.close"]


async def test_samples_are_tagged_with_the_open_sortie(store: Store) -> None:
    sortie_id = await store.open_sortie(vehicle_id="v1", plan_name="p", plan_json="{}")
    await store.write_samples(track("v1", 3) + track("v9", 2))

    def tags() -> list[tuple[str, int | None]]:
        from sqlalchemy import select

        from drone_ops.store.schema import telemetry

        with store.engine.connect() as conn:
            rows = conn.execute(
                select(telemetry.c.vehicle_id, telemetry.c.sortie_id).order_by(
                    telemetry.c.vehicle_id
                )
            )
            return [(r.vehicle_id, r.sortie_id) for r in rows]

    assert await store.run(tags) == [("v1", sortie_id)] * 3 + [("v9", None)] * 2


async def test_telemetry_window_is_centered_and_bounded(store: Store) -> None:
    await store.write_samples(track("v1", 600))  # 60 s at 10 Hz
    center = T0_US + 30_000_000
    window = await store.telemetry_window("v1", center, before_s=5, after_s=2)
    assert window[0].time_unix_us == center - 5_000_000
    assert window[-1].time_unix_us == center + 2_000_000
    assert len(window) == 71
    with pytest.raises(StoreConfigError):
        await store.telemetry_window("v1", center, before_s=-1)


async def test_closing_with_an_unknown_outcome_is_refused(store: Store) -> None:
    sortie_id = await store.open_sortie(vehicle_id="v1", plan_name="p", plan_json="{}")
    with pytest.raises(StoreConfigError, match="outcome 'exploded' is unknown"):
        await store.close_sortie(sortie_id, outcome="exploded")
    closed = await store.close_sortie(sortie_id, outcome="link_lost")
    again = await store.close_sortie(sortie_id, outcome="completed")  # idempotent, first wins
    assert closed.outcome is again.outcome is SortieOutcome.LINK_LOST


async def test_writer_drains_a_lossless_bus_subscription_without_loss(store: Store) -> None:
    published = track("v1", 3000, step_us=1000) + track("v2", 3000, step_us=1000)
    async with TelemetryBus() as bus:
        writer = StoreWriter(store, max_batch_samples=700)
        async with bus.subscribe("store", policy=Policy.LOSSLESS, maxsize=256) as sub:
            for s in published:  # far more than the queue holds: the bus spills to disk
                bus.publish(s)
            bus.close()
            stats = await writer.run_subscription(sub)
    assert stats.samples_written == len(published)
    assert stats.pending_samples == 0
    assert await store.count_samples() == len(published)
    assert await store.samples_between("v2", T0_US, T0_US + 10**9) == published[3000:]


async def test_writer_retries_a_locked_sqlite_store_and_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    async with open_store(StoreConfig(url=url, busy_timeout_s=0.05)) as store:
        import sqlite3

        blocker = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        writer = StoreWriter(store, retry_initial_s=0.01)
        batches = [track("v1", 10, start_us=T0_US + i * 10**7) for i in range(3)]

        async def source() -> AsyncIterator[Sequence[TelemetrySample]]:
            for b in batches:
                yield b

        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(writer.run(source()), name="writer")
            await writer.stalled.wait()  # it has hit the lock and is retrying
            assert writer.stats.last_error is not None
            assert "locked" in writer.stats.last_error
            assert writer.stats.pending_samples == 10
            blocker.execute("ROLLBACK")
            blocker.close()
        stats = task.result()
        assert stats.samples_written == 30
        assert stats.retries >= 1
        assert await store.count_samples() == 30


async def test_video_segments_overlapping_a_window(store: Store) -> None:
    for i in range(5):  # 10 s segments
        await store.add_video_segment(
            vehicle_id="v1",
            start_us=T0_US + i * 10_000_000,
            end_us=T0_US + (i + 1) * 10_000_000,
            path=f"video/v1/{i}.mp4",
            sha256="ab" * 32,
            size_bytes=1000 + i,
        )
    got = await store.segments_between("v1", T0_US + 15_000_000, T0_US + 25_000_000)
    assert [s.path for s in got] == ["video/v1/1.mp4", "video/v1/2.mp4"]
    assert await store.segments_between("v2", T0_US, T0_US + 10**9) == []
    with pytest.raises(StoreConfigError, match="end is before start"):
        await store.add_video_segment(
            vehicle_id="v1", start_us=5, end_us=1, path="x", sha256="ab" * 32, size_bytes=1
        )


async def test_writer_survives_a_postgresql_restart_without_loss(
    private_pg: PrivatePostgres,
) -> None:
    queue: asyncio.Queue[list[TelemetrySample] | None] = asyncio.Queue()

    async def source() -> AsyncIterator[Sequence[TelemetrySample]]:
        while (batch := await queue.get()) is not None:
            yield batch

    config = StoreConfig(url=private_pg.url, connect_timeout_s=2)
    async with open_store(config) as store:
        writer = StoreWriter(store, retry_initial_s=0.05, retry_max_s=0.5)
        await writer.write(track("v1", 100))  # written while the server is up
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(writer.run(source()), name="writer")
            await asyncio.to_thread(private_pg.stop)
            queue.put_nowait(track("v1", 100, start_us=T0_US + 10**8))
            await writer.stalled.wait()  # the database is gone: it keeps the batch, retries
            assert "cannot reach the store" in (writer.stats.last_error or "")
            assert writer.stats.pending_samples == 100
            await asyncio.to_thread(private_pg.start)
            queue.put_nowait(None)
        stats = run.result()
        assert stats.samples_written == 200
        assert stats.pending_samples == 0
        assert await store.count_samples("v1") == 200
