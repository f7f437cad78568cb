"""Mission items as PX4 executes them, and the commands that steer a mission."""

from __future__ import annotations

import math
from typing import Any

from pymavlink.dialects.v20 import common as mavlink
from sitl_helpers import (
    HOME,
    LOITER,
    MISSION,
    MavClient,
    distance_m,
    offset,
    upload_mission,
    wait_mode,
    wait_text,
    waypoint,
)


def item(seq: int, command: int, p1: float = 0.0, p2: float = 0.0) -> Any:
    """A DO command item (MAV_FRAME_MISSION)."""
    return mavlink.MAVLink_mission_item_int_message(
        1, 1, seq, 2, command, 0, 1, p1, p2, 0.0, 0.0, 0, 0, 0.0, 0
    )


def held(wp: Any, hold_s: float) -> Any:
    wp.param1 = hold_s
    return wp


async def test_jump_loiter_speed_and_return_items(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=25) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            a = offset(HOME[0], HOME[1], 20.0, 0.0)
            b = offset(HOME[0], HOME[1], 20.0, 20.0)
            c = offset(HOME[0], HOME[1], 0.0, 30.0)
            d = offset(HOME[0], HOME[1], -100.0, 30.0)
            items = [
                waypoint(0, HOME[0], HOME[1], 8.0, command=22),  # takeoff
                held(waypoint(1, *a, 8.0), 2.0),  # waypoint, hold 2 s
                waypoint(2, *b, 8.0),
                item(3, 177, 1, 1),  # DO_JUMP to 1, once
                held(waypoint(4, *c, 8.0, command=19), 3.0),  # LOITER_TIME 3 s
                item(5, 178, 1, 9.0),  # DO_CHANGE_SPEED 9 m/s
                waypoint(6, *d, 8.0),
                waypoint(7, 0.0, 0.0, 0.0, command=20),  # RETURN_TO_LAUNCH
            ]
            assert await upload_mission(gcs, items) == 0
            assert (await gcs.command(300, 0, 0)).result == 0
            reached: list[int] = []
            fastest = 0.0
            while not reached or reached[-1] != 7:
                msg = await gcs.recv_until(
                    lambda m: m.get_type() in ("MISSION_ITEM_REACHED", "VFR_HUD"), 60
                )
                if msg.get_type() == "VFR_HUD":
                    fastest = max(fastest, msg.groundspeed)
                elif not reached or reached[-1] != msg.seq:
                    reached.append(msg.seq)
            assert reached == [0, 1, 2, 1, 2, 4, 6, 7]
            assert fastest > 8.0, "DO_CHANGE_SPEED raised the cruise speed"
            # The RTL item lands at home and the vehicle disarms itself.
            hb = await gcs.recv_until(
                lambda m: m.get_type() == "HEARTBEAT" and m.autopilot == 12 and m.base_mode < 128,
                30,
            )
            assert hb.custom_mode == LOITER
            pos = await gcs.recv_type("GLOBAL_POSITION_INT")
            assert distance_m(pos.lat * 1e-7, pos.lon * 1e-7, HOME[0], HOME[1]) < 2.0


async def test_pause_continue_change_speed_and_set_home(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            far = offset(HOME[0], HOME[1], 400.0, 0.0)
            items = [waypoint(0, HOME[0], HOME[1], 10.0, command=22), waypoint(1, *far, 10.0)]
            assert await upload_mission(gcs, items) == 0
            await gcs.command(300, 0, 0)
            await gcs.recv_until(lambda m: m.get_type() == "VFR_HUD" and m.groundspeed > 4.5, 60)
            # Pause: hold where it is.
            assert (await gcs.command(193, 0)).result == 0
            await wait_mode(gcs, LOITER)
            await gcs.recv_until(lambda m: m.get_type() == "VFR_HUD" and m.groundspeed < 0.2, 20)
            # Continue: back to the mission, then faster with DO_CHANGE_SPEED.
            assert (await gcs.command(193, 1)).result == 0
            await wait_mode(gcs, MISSION)
            assert (await gcs.command(178, 1, 10.0, -1)).result == 0
            await gcs.recv_until(lambda m: m.get_type() == "VFR_HUD" and m.groundspeed > 9.0, 30)
            # A new home, used by HOME_POSITION.
            home = offset(HOME[0], HOME[1], 0.0, 50.0)
            ack = await gcs.command(179, 0, 0, 0, 0, home[0], home[1], HOME[2] + 2.0)
            assert ack.result == 0
            got = await gcs.recv_until(
                lambda m: (
                    m.get_type() == "HOME_POSITION"
                    and distance_m(m.latitude * 1e-7, m.longitude * 1e-7, *home) < 0.5
                ),
                10,
            )
            assert abs(got.altitude / 1000 - (HOME[2] + 2.0)) < 0.01
            ack = await gcs.command(179, 0, 0, 0, 0, 123.0, 0.0, math.nan)
            assert ack.result == 2  # latitude out of range: denied


async def test_takeoff_in_mission_from_ground_without_takeoff_item(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            target = offset(HOME[0], HOME[1], 30.0, 0.0)
            assert await upload_mission(gcs, [waypoint(0, *target, 12.0)]) == 0
            # Mission mode while disarmed, then arm: PX4 climbs and flies it.
            first = await gcs.command(176, 1, 4, 4)
            assert first.result == 0
            await gcs.command(400, 1)
            await wait_text(gcs, "Mission finished, loitering", 40)
            pos = await gcs.recv_type("GLOBAL_POSITION_INT")
            assert distance_m(pos.lat * 1e-7, pos.lon * 1e-7, *target) < 2.5
            assert abs(pos.relative_alt / 1000 - 12.0) < 1.0
