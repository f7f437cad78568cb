"""Helpers for scheduler tests against the built-in simulator."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from drone_ops.fleet import Fleet
from drone_ops.scheduling.clock import ScaledClock
from drone_ops.state import VehicleState
from sitl import SimFleet, SimVehicle


def sim_clock(sim: SimFleet) -> ScaledClock:
    """The scheduler's clock read from the simulator's own (sped-up) clock."""
    return ScaledClock(speedup=sim.config.speedup, time_s=lambda: sim.clock.unix_usec() / 1e6)


async def wait_ready(fleet: Fleet, timeout_s: float = 30.0) -> None:
    for vid in fleet.vehicles():
        await fleet.session(vid).wait_for(
            lambda s: (
                s.home is not None
                and s.health_ok is True
                and s.battery_pct is not None
                and s.lat_deg is not None
            ),
            timeout_s=timeout_s,
        )


def all_down(fleet: Fleet) -> bool:
    return all(not s.armed and not s.in_air for s in fleet.states().values())


async def warp_idle(sim: SimFleet, clock: ScaledClock, until: datetime, *, step_s: float) -> None:
    """Advance the real simulator in big steps (physics, charging and streams all run):
    the test does this only while nothing flies, so idle hours cost little wall time."""
    while (left := (until - clock.now()).total_seconds()) > 0:
        sim.step(min(step_s, left))
        await asyncio.sleep(0)  # let the controller read what the vehicles sent


async def caught_up(fleet: Fleet, sim: SimFleet, timeout_s: float = 30.0) -> None:
    """Wait until the controller's view of every battery matches the simulator's
    (the fleet's vehicles added in the simulator's order): after a warp, the state
    the scheduler checks is the vehicles' state now, not from before the jump."""
    for vid, vehicle in zip(fleet.vehicles(), sim.vehicles, strict=True):

        def matches(state: VehicleState, vehicle: SimVehicle = vehicle) -> bool:
            pct = state.battery_pct  # SYS_STATUS carries whole percent
            return pct is not None and abs(pct - vehicle.battery_pct()) <= 1.0

        await fleet.session(vid).wait_for(matches, timeout_s=timeout_s)


def before(when: datetime, seconds: float) -> datetime:
    return when - timedelta(seconds=seconds)
