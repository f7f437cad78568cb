"""The scheduler's clocks and plan building from generator parameters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from drone_ops.schedule import PlanSource, ScheduleError
from drone_ops.scheduling.clock import ScaledClock
from drone_ops.scheduling.plans import load_plan
from missions.energy import estimate_flight
from missions.plan import Home, ItemKind

HOME = Home(lat_deg=47.397743, lon_deg=8.545594, amsl_m=489.4)


async def test_scaled_clock_waits_for_its_source_not_for_wall_time() -> None:
    source = [1_000_000.0]
    clock = ScaledClock(speedup=1000.0, time_s=lambda: source[0])
    assert clock.now() == datetime.fromtimestamp(1_000_000, UTC)
    async with asyncio.TaskGroup() as tg:
        waiter = tg.create_task(
            clock.sleep_until(clock.now() + timedelta(hours=1)), name="clock-waiter"
        )
        await asyncio.sleep(0.05)  # a negative: nothing to await but a moment of loop time
        assert not waiter.done()  # the source has not advanced: still waiting
        source[0] += 3600.0
        await asyncio.wait_for(asyncio.shield(waiter), 5)
    assert clock.wall_s(3600) == pytest.approx(3.6)


async def test_scaled_clock_on_wall_time_runs_speedup_times_faster() -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    clock = ScaledClock(speedup=3600.0, start_utc=start)
    await clock.sleep_until(start + timedelta(minutes=30))  # half a wall second
    assert clock.now() >= start + timedelta(minutes=30)


def test_square_generator_flies_around_home_and_returns() -> None:
    plan = load_plan(
        PlanSource(generator="square", params={"side_m": 100, "alt_m": 25}), home=HOME, name="sq"
    )
    assert plan.name == "sq"
    assert plan.items[0].kind is ItemKind.TAKEOFF
    assert plan.items[-1].kind is ItemKind.RETURN_TO_LAUNCH
    assert all(i.rel_alt_m == 25 for i in plan.items[:-1])
    assert estimate_flight(plan).distance_m == pytest.approx(400 + 2 * 70.7, rel=0.05)


def test_orbit_generator_uses_an_offset_from_home() -> None:
    plan = load_plan(
        PlanSource(generator="orbit", params={"north_m": 200, "radius_m": 30}), home=HOME, name="o"
    )
    waypoints = [i for i in plan.items if i.kind is ItemKind.WAYPOINT]
    assert min(i.lat_deg for i in waypoints) > HOME.lat_deg + 150 / 111_195


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        (PlanSource(generator="spiral"), "unknown generator 'spiral'"),
        (PlanSource(generator="square", params={"side_m": "big"}), "not a number"),
        (PlanSource(file="/no/such/file.plan"), "does not exist"),
    ],
)
def test_plans_that_cannot_be_built_say_why(source: PlanSource, fragment: str) -> None:
    with pytest.raises(ScheduleError, match=fragment):
        load_plan(source, home=HOME, name="x")
