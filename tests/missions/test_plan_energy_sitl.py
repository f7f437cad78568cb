"""The energy estimate against the simulated quadrotor actually flying the plan.

The plan goes up as MAVLink mission items (`missions.mission_items`, the
controller's path too) over real UDP; the vehicle flies it from MISSION_START
through RTL to auto-disarm; the energy used is read from its BATTERY_STATUS.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymavlink.dialects.v20 import common as mavlink
from shapely.geometry import Polygon

from missions import Home, MavItem, mission_items
from missions.energy import estimate_flight
from missions.generators import CoverageSpec, coverage
from missions.geo import LocalFrame
from tests.sitl.sitl_helpers import HOME, MavClient, upload_mission

PLAN_HOME = Home(lat_deg=HOME[0], lon_deg=HOME[1], amsl_m=HOME[2])
MAV_CMD_MISSION_START = 300
ARMED = 128  # MAV_MODE_FLAG_SAFETY_ARMED


def to_mavlink(item: MavItem) -> Any:
    return mavlink.MAVLink_mission_item_int_message(
        1, 1, item.seq, item.frame, item.command, item.current, item.autocontinue,
        item.param1, item.param2, item.param3, item.param4, item.x, item.y, item.z,
        item.mission_type,
    )  # fmt: skip


def is_vehicle_heartbeat(m: Any, armed: bool) -> bool:
    return bool(
        m.get_type() == "HEARTBEAT" and m.autopilot == 12 and bool(m.base_mode & ARMED) is armed
    )


@pytest.mark.slow
async def test_energy_estimate_within_10_percent_of_the_simulated_flight(sim_fleet: Any) -> None:
    frame = LocalFrame(PLAN_HOME.lat_deg, PLAN_HOME.lon_deg)
    area = frame.geom_to_lonlat(Polygon([(30, -40), (230, -40), (230, 120), (30, 120)]))
    plan = coverage(
        area, home=PLAN_HOME, spec=CoverageSpec(alt_m=35, side_overlap=0.5, speed_m_s=7.0)
    )
    estimate = estimate_flight(plan)
    async with sim_fleet(count=1, speedup=30) as fleet:
        fleet.builtin_vehicles("the simulated quad implements the planner's energy model")
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            assert await upload_mission(gcs, [to_mavlink(i) for i in mission_items(plan)]) == 0
            ack = await gcs.command(MAV_CMD_MISSION_START, 0, 0)
            assert ack.result == 0
            await gcs.recv_until(lambda m: is_vehicle_heartbeat(m, armed=True), 30)
            # fly the plan, return, land, auto-disarm (simulated minutes, wall seconds)
            await gcs.recv_until(lambda m: is_vehicle_heartbeat(m, armed=False), 120)
            battery = await gcs.recv_type("BATTERY_STATUS", 30)
    used_wh = battery.energy_consumed * 100 / 3600  # hJ -> Wh
    assert used_wh > 10  # it really flew the plan
    assert estimate.energy_wh == pytest.approx(used_wh, rel=0.10)
