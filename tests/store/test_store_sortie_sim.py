"""End to end: a simulated vehicle flies a patrol; the controller records into the store.

The controller's audit chain is the store's, its sortie recorder is the store,
and its samples reach the store through a LOSSLESS bus subscription drained by
`StoreWriter` — every part real, over real UDP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from drone_ops.config import ControllerConfig
from drone_ops.fleet import Fleet
from drone_ops.sortie import SortieOutcome as RunnerOutcome
from drone_ops.store import SortieOutcome, Store, StoreConfig, StoreWriter, open_store
from drone_ops.store.verify import verify_store
from telemetry.bus import Policy, TelemetryBus
from tests.controller.conftest import patrol

pytestmark = pytest.mark.slow

SPEEDUP = 10.0


async def test_a_flown_sortie_lands_in_the_store_with_its_track_and_audit_chain(
    sim_fleet: Any, sqlite_url: str, tmp_path: Path
) -> None:
    async with (
        open_store(StoreConfig(url=sqlite_url, evidence_dir=tmp_path / "evidence")) as store,
        sim_fleet(count=1, speedup=SPEEDUP) as sim,
        TelemetryBus() as bus,
        bus.subscribe("store", policy=Policy.LOSSLESS, spool_dir=tmp_path) as sub,
    ):
        writer = StoreWriter(store, max_batch_samples=500)
        async with asyncio.TaskGroup() as tg:
            drain = tg.create_task(writer.run_subscription(sub), name="store-writer")
            try:
                async with Fleet(
                    audit=store.audit,
                    config=ControllerConfig().scaled(SPEEDUP),
                    recorder=store,
                    sample_bus=bus,
                    tlog_dir=tmp_path / "tlog",
                ) as fleet:
                    session = await fleet.add_vehicle("v1", f"udpin://127.0.0.1:{sim.api_port(0)}")
                    await session.wait_for(
                        lambda st: st.home is not None and st.health_ok is not None,
                        timeout_s=10,
                    )
                    result = await fleet.fly("v1", patrol(session))
            finally:
                bus.close()  # the writer drains what is left, then ends
        stats = drain.result()
        await check_store(store, result, stats, bus.published)


async def check_store(store: Store, result: Any, stats: Any, published: int) -> None:
    assert result.outcome is RunnerOutcome.COMPLETED, result.reason
    assert stats.samples_written > 0
    assert stats.pending_samples == 0
    assert await store.count_samples("v1") == stats.samples_written == published

    record = await store.sortie(result.sortie_id)
    assert record.outcome is SortieOutcome.COMPLETED
    assert record.tlog_path is not None
    feature = await store.sortie_track_geojson(result.sortie_id)
    coords = feature["geometry"]["coordinates"]
    assert feature["geometry"]["type"] == "LineString"
    assert len(coords) > 20
    lats = [c[1] for c in coords]
    assert max(lats) - min(lats) > 30 / 111_320  # it flew the 40 m north leg

    actions = [e.action for e in await store.audit.entries(limit=10_000)]
    assert actions.index("sortie.open") < actions.index("command.arm.request")
    assert actions.index("command.arm.request") < actions.index("command.arm.result")
    assert actions.index("command.arm.result") < actions.index("sortie.close")
    report = await verify_store(store)
    assert report.ok, report.summary()
