"""The bus: policies when a subscriber falls behind, and publish never waits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from telemetry import BusClosedError, Policy, TelemetryBus, TelemetrySample
from telemetry.bus import Bus


def entries(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def sample(i: int, vehicle: str = "v1") -> TelemetrySample:
    return TelemetrySample(vehicle_id=vehicle, time_unix_us=1_000_000 + i, boot_time_ms=i)


async def test_latest_keeps_the_newest_and_counts_what_it_dropped() -> None:
    async with TelemetryBus() as bus, bus.subscribe("ui", policy=Policy.LATEST, maxsize=5) as ui:
        for i in range(20):
            bus.publish(sample(i))
        stats = ui.stats()
        assert stats.depth == 5
        assert stats.dropped == 15
        got = [ui.get_nowait() for _ in range(5)]
        assert [s.boot_time_ms for s in got if s is not None] == [15, 16, 17, 18, 19]
        assert ui.get_nowait() is None
        assert ui.stats().delivered == 5


async def test_lossless_spills_to_disk_and_reads_back_everything_in_order(tmp_path: Path) -> None:
    n = 5_000
    async with (
        TelemetryBus(spool_dir=tmp_path) as bus,
        bus.subscribe("store", policy=Policy.LOSSLESS, maxsize=100) as store,
    ):
        for i in range(n):
            bus.publish(sample(i))
        stats = store.stats()
        assert stats.depth == n
        assert stats.spilled == n - 100
        assert stats.spool_depth == n - 100
        assert stats.spool_bytes > 0
        assert stats.dropped == 0
        assert entries(tmp_path), "the spool lives where it was told to"
        # Publish more while the consumer is catching up: order must hold across the seam.
        got: list[int] = []
        while len(got) < n + 50:
            batch = await store.get_batch(64)
            got.extend(s.boot_time_ms for s in batch)
            if len(got) == 1_000:
                for i in range(n, n + 50):
                    bus.publish(sample(i))
        assert got == list(range(n + 50))
        final = store.stats()
        assert final.depth == 0
        assert final.spool_depth == 0
        assert final.spool_bytes == 0
        assert final.delivered == n + 50
    assert not entries(tmp_path), "the spool file is removed with the subscription"


async def test_a_subscriber_that_never_reads_does_not_block_publish_or_other_subscribers() -> None:
    async with (
        TelemetryBus() as bus,
        bus.subscribe("stuck", policy=Policy.LATEST, maxsize=10) as stuck,
        bus.subscribe("live", policy=Policy.LOSSLESS, maxsize=10_000) as live,
    ):
        received: list[int] = []
        done = asyncio.Event()

        async def consume() -> None:
            async for s in live:
                received.append(s.boot_time_ms)
                if len(received) == 2_000:
                    done.set()

        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(consume(), name="live-consumer")
            for i in range(2_000):
                bus.publish(sample(i))  # synchronous: it cannot wait on anyone
                if i % 100 == 0:
                    await asyncio.sleep(0)  # let the live consumer run, as a real loop would
            await done.wait()
            task.cancel()
        assert received == list(range(2_000))
        assert stuck.stats().dropped == 1_990
        assert stuck.stats().delivered == 0


async def test_consumer_wakes_when_an_item_is_published() -> None:
    async with TelemetryBus() as bus, bus.subscribe("x", policy=Policy.LATEST) as sub:
        async with asyncio.TaskGroup() as tg:
            getter = tg.create_task(sub.get(), name="getter")
            await asyncio.sleep(0)
            assert not getter.done()
            bus.publish(sample(7))
        assert getter.result().boot_time_ms == 7


async def test_closing_the_bus_lets_subscribers_drain_then_ends_iteration() -> None:
    bus: Bus[int] = Bus()
    async with bus, bus.subscribe("store", policy=Policy.LOSSLESS, maxsize=2) as sub:
        for i in range(5):
            bus.publish(i)
        bus.close()
        assert [i async for i in sub] == [0, 1, 2, 3, 4]
        with pytest.raises(BusClosedError, match="closed"):
            await sub.get()
        with pytest.raises(BusClosedError, match="closed"):
            bus.publish(6)


async def test_lag_reports_how_long_the_oldest_item_has_waited() -> None:
    now_ns = [0]
    async with (
        TelemetryBus(clock_ns=lambda: now_ns[0]) as bus,
        bus.subscribe("x", policy=Policy.LOSSLESS, maxsize=2) as sub,
    ):
        assert sub.stats().lag_s == 0.0
        for i in range(4):  # two in memory, two spooled
            bus.publish(sample(i))
            now_ns[0] += 1_000_000_000
        assert sub.stats().lag_s == 4.0
        assert len(await sub.get_batch(10)) == 2
        assert sub.stats().lag_s == 2.0, "the oldest spooled item is now the oldest waiting"
        await sub.get_batch(10)
        assert sub.stats().lag_s == 0.0


async def test_unsubscribed_consumers_stop_receiving() -> None:
    async with TelemetryBus() as bus:
        async with bus.subscribe("a", policy=Policy.LATEST) as a:
            bus.publish(sample(1))
            assert len(a) == 1
            assert [s.name for s in bus.stats()] == ["a"]
        bus.publish(sample(2))
        assert bus.stats() == []
        assert bus.published == 2


@settings(max_examples=60, deadline=None)
@example(maxsize=1, ops=[2, -1, -1, 2])  # the spool refilled after it was emptied and truncated
@given(
    maxsize=st.integers(min_value=1, max_value=8),
    ops=st.lists(st.one_of(st.integers(min_value=1, max_value=30), st.just(-1)), max_size=40),
)
def test_lossless_delivers_everything_in_order_under_any_interleaving(
    tmp_path_factory: pytest.TempPathFactory, maxsize: int, ops: list[int]
) -> None:
    """n > 0: publish n items; -1: the consumer takes one batch of up to 5."""

    async def run() -> tuple[list[int], int]:
        bus: Bus[int] = Bus(spool_dir=tmp_path_factory.mktemp("spool"))
        got: list[int] = []
        nxt = 0
        async with bus, bus.subscribe("s", policy=Policy.LOSSLESS, maxsize=maxsize) as sub:
            for op in ops:
                if op > 0:
                    for _ in range(op):
                        bus.publish(nxt)
                        nxt += 1
                elif len(sub):
                    got.extend(await sub.get_batch(5))
            bus.close()
            got.extend([i async for i in sub])
            return got, nxt

    got, published = asyncio.run(run())
    assert got == list(range(published))
