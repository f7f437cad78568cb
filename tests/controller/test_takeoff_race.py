"""Preflight auto-disarm racing the mission start at high speedup.

PX4 disarms a vehicle that was armed but has not taken off within
COM_DISARM_PRFLT (10 vehicle seconds by default: 0.2 wall seconds at 50x).
The runner arms, then starts the mission; if the start arrives after the
auto-disarm, it must still fly: MAV_CMD_MISSION_START arms a disarmed PX4 and
takes off (a switch to AUTO.MISSION would leave the vehicle on the ground).
The timeout is set far below one simulator tick here, so the vehicle is always
disarmed before the start arrives: the race is lost every time, on purpose.
"""

from __future__ import annotations

import pytest

from drone_ops.sortie import SortieOutcome
from drone_ops.state import FlightMode
from tests.controller.conftest import ControllerFactory, patrol

pytestmark = pytest.mark.slow

SPEEDUP = 50.0
PREFLIGHT_DISARM = {"COM_DISARM_PRFLT": 0.1}  # vehicle seconds; one tick at 50x is 1 s


async def test_mission_start_after_preflight_disarm_still_takes_off(
    controller: ControllerFactory,
) -> None:
    async with controller(speedup=SPEEDUP, extra_params=PREFLIGHT_DISARM) as c:
        s = c.sessions[0]
        [vehicle] = c.sim.builtin_vehicles("reads the simulated vehicle's messages")
        await s.upload_plan(patrol(s))
        await s.arm()
        await s.wait_for(  # armed for less than a tick: no heartbeat shows it, the text does
            lambda _st: any("auto preflight disarming" in t.text for t in s.statustexts),
            timeout_s=10,
        )
        assert not vehicle.armed
        await s.start_mission()
        state = await s.wait_for(lambda st: st.in_air, timeout_s=10)
        assert state.armed
        assert state.mode is FlightMode.AUTO_MISSION
        assert any(text == "Armed by mission start" for _t, _sev, text in vehicle.statustexts)
        await s.return_to_launch()


async def test_sortie_completes_although_preflight_disarm_wins_the_race(
    controller: ControllerFactory,
) -> None:
    async with controller(speedup=SPEEDUP, extra_params=PREFLIGHT_DISARM) as c:
        s = c.sessions[0]
        result = await c.fleet.fly("v1", patrol(s, north_m=20, east_m=15, alt_m=8))
        assert result.outcome is SortieOutcome.COMPLETED, (result.reason, result.events)
        assert result.landed_and_disarmed
