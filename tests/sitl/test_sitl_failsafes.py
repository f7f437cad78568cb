"""Missions flown over the wire, and the failsafes PX4 triggers on failures."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pymavlink.dialects.v20 import common as mavlink
from sitl_helpers import (
    HOME,
    LAND,
    LOITER,
    MISSION,
    RTL,
    MavClient,
    distance_m,
    offset,
    upload_mission,
    wait_mode,
    wait_text,
    waypoint,
)

DENIED, ACCEPTED = 2, 0
FAILURE_UNIT_GPS, FAILURE_UNIT_BATTERY = 4, 100
FAILURE_OK, FAILURE_OFF = 0, 1


def set_param(client: MavClient, name: str, value: float, *, integer: bool = False) -> None:
    if integer:
        import struct

        wire = struct.unpack("<f", struct.pack("<i", int(value)))[0]
        client.send(mavlink.MAVLink_param_set_message(1, 1, name.encode(), wire, 6))
    else:
        client.send(mavlink.MAVLink_param_set_message(1, 1, name.encode(), value, 9))


async def set_param_acked(client: MavClient, name: str, value: float, *, integer: bool) -> None:
    set_param(client, name, value, integer=integer)
    await client.recv_type("PARAM_VALUE", param_id=name)


async def take_off(client: MavClient, alt_m: float = 10.0) -> None:
    await client.command(22, 0, 0, 0, math.nan, math.nan, math.nan, HOME[2] + alt_m)
    assert (await client.command(400, 1)).result == ACCEPTED
    await wait_mode(client, LOITER, 40)


async def test_mission_start_while_disarmed_arms_flies_and_reports_progress(
    sim_fleet: Any,
) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            a = offset(HOME[0], HOME[1], 25.0, 0.0)
            b = offset(HOME[0], HOME[1], 25.0, 25.0)
            items = [
                waypoint(0, HOME[0], HOME[1], 8.0, command=22),
                waypoint(1, *a, 8.0),
                waypoint(2, *b, 8.0),
            ]
            assert await upload_mission(gcs, items) == 0
            ack = await gcs.command(300, 0, 0)
            assert ack.result == ACCEPTED
            await wait_text(gcs, "Armed by mission start")
            await wait_mode(gcs, MISSION)
            reached: list[int] = []
            while len(reached) < 3:
                msg = await gcs.recv_type("MISSION_ITEM_REACHED", timeout_s=40)
                if not reached or reached[-1] != msg.seq:
                    reached.append(msg.seq)
            assert reached == [0, 1, 2]
            # PX4 itself commands its payload (gimbal manager, camera) from 1/1.
            own = [
                m.command
                for m in gcs.received
                if m.get_type() == "COMMAND_LONG" and m.get_srcSystem() == fleet.system_id(0)
            ]
            assert {1000, 1001, 2003} <= set(own)
            await wait_text(gcs, "Mission finished, loitering")
            await wait_mode(gcs, LOITER)
            pos = await gcs.recv_type("GLOBAL_POSITION_INT")
            assert distance_m(pos.lat * 1e-7, pos.lon * 1e-7, *b) < 3.0
            current = await gcs.recv_type("MISSION_CURRENT")
            assert (current.seq, current.total) == (2, 3)
            # MISSION_ITEM_REACHED for the last item is repeated (1 Hz, at most 10 more).
            repeats = await gcs.recv_type("MISSION_ITEM_REACHED", timeout_s=3)
            assert repeats.seq == 2


async def test_failure_injection_is_gated_by_sys_failure_en(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            ack = await gcs.command(420, FAILURE_UNIT_GPS, FAILURE_OFF, 0)
            assert ack.result == DENIED
            await set_param_acked(gcs, "SYS_FAILURE_EN", 1, integer=True)
            ack = await gcs.command(420, FAILURE_UNIT_GPS, FAILURE_OFF, 0)
            assert ack.result == ACCEPTED
            # No GPS: no 3D fix, GPS unhealthy in SYS_STATUS, and arming refused.
            gps = await gcs.recv_until(lambda m: m.get_type() == "GPS_RAW_INT" and m.fix_type < 3)
            assert gps.satellites_visible == 0
            status = await gcs.recv_type("SYS_STATUS")
            assert not status.onboard_control_sensors_health & 32
            assert (await gcs.command(400, 1)).result == 1
            await wait_text(gcs, "Arming denied")
            await gcs.command(420, FAILURE_UNIT_GPS, FAILURE_OK, 0)
            await gcs.recv_until(lambda m: m.get_type() == "GPS_RAW_INT" and m.fix_type >= 3)


async def test_gps_loss_in_flight_lands(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        fleet.builtin_vehicles("PX4 SIH's estimator reacts to GPS loss on its own schedule")
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            await set_param_acked(gcs, "SYS_FAILURE_EN", 1, integer=True)
            await take_off(gcs, 10.0)
            await gcs.command(420, FAILURE_UNIT_GPS, FAILURE_OFF, 0)
            await wait_mode(gcs, LAND)
            await gcs.recv_until(
                lambda m: m.get_type() == "EXTENDED_SYS_STATE" and m.landed_state == 1, 60
            )


@pytest.mark.parametrize(
    ("failure_type", "mode", "text"),
    [(1, RTL, "Critical battery level"), (3, LAND, "Emergency battery level")],
    ids=["critical-returns", "emergency-lands"],
)
async def test_battery_failsafe_follows_com_low_bat_act(
    sim_fleet: Any, failure_type: int, mode: int, text: str
) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        fleet.builtin_vehicles("battery levels injected through INJECT_FAILURE are simulator-only")
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            await set_param_acked(gcs, "SYS_FAILURE_EN", 1, integer=True)
            await take_off(gcs, 10.0)
            ack = await gcs.command(420, FAILURE_UNIT_BATTERY, failure_type, 0)
            assert ack.result == ACCEPTED
            await wait_text(gcs, text)
            await wait_mode(gcs, mode)
            battery = await gcs.recv_type("BATTERY_STATUS", timeout_s=5)
            assert battery.battery_remaining < 8
            assert battery.charge_state >= 3  # CRITICAL or EMERGENCY


async def test_low_battery_warning_only_with_com_low_bat_act_zero(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        fleet.builtin_vehicles("battery levels injected through INJECT_FAILURE are simulator-only")
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            await set_param_acked(gcs, "SYS_FAILURE_EN", 1, integer=True)
            await set_param_acked(gcs, "COM_LOW_BAT_ACT", 0, integer=True)
            await take_off(gcs, 10.0)
            await gcs.command(420, FAILURE_UNIT_BATTERY, FAILURE_OFF, 0)
            await wait_text(gcs, "Critical battery level")
            # Still holding: a warning, no mode change.
            hb = await gcs.recv_until(lambda m: m.get_type() == "HEARTBEAT" and m.autopilot == 12)
            assert hb.custom_mode == LOITER


async def test_data_link_loss_returns_and_is_reported_on_regain(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        vehicle = fleet.builtin_vehicles("silences the radio link with a simulator hook")[0]
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            await set_param_acked(gcs, "NAV_DLL_ACT", 2, integer=True)
            await set_param_acked(gcs, "COM_DL_LOSS_T", 5, integer=True)
            await take_off(gcs, 10.0)
            vehicle.set_link_down(60.0)  # simulated seconds: > COM_DL_LOSS_T; 3 s wall at 20x
            await fleet.wait_until(lambda: vehicle.link_lost, 30)
            assert vehicle.mode.name == "AUTO_RTL"
            # The link comes back; our heartbeat tells the vehicle so.
            await fleet.wait_until(lambda: not vehicle.gcs_link.is_down(), 30)
            gcs.heartbeat()
            await wait_text(gcs, "Data link regained", 10)
            # By now the return has brought it home (or is finishing it).
            hb = await gcs.recv_until(lambda m: m.get_type() == "HEARTBEAT" and m.autopilot == 12)
            assert hb.custom_mode in (RTL, LOITER)
            await gcs.recv_until(
                lambda m: m.get_type() == "EXTENDED_SYS_STATE" and m.landed_state == 1, 60
            )
            pos = await gcs.recv_type("GLOBAL_POSITION_INT")
            assert distance_m(pos.lat * 1e-7, pos.lon * 1e-7, HOME[0], HOME[1]) < 2.0


async def test_geofence_max_distance_triggers_gf_action(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            await set_param_acked(gcs, "GF_MAX_HOR_DIST", 30.0, integer=False)
            await set_param_acked(gcs, "GF_ACTION", 3, integer=True)  # Return
            await take_off(gcs, 10.0)
            lat, lon = offset(HOME[0], HOME[1], 80.0, 0.0)
            ack = await gcs.command(192, -1, 1, 0, math.nan, lat, lon, HOME[2] + 10.0)
            assert ack.result == ACCEPTED
            await wait_mode(gcs, RTL, 40)
            pos = await gcs.recv_type("GLOBAL_POSITION_INT")
            assert distance_m(pos.lat * 1e-7, pos.lon * 1e-7, HOME[0], HOME[1]) < 45


async def test_uploaded_inclusion_fence_is_enforced(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            # A 40 m circle around home (FENCE_CIRCLE_INCLUSION, radius in param1).
            circle = mavlink.MAVLink_mission_item_int_message(
                1, 1, 0, 6, 5003, 0, 1, 40.0, 0, 0, 0,
                round(HOME[0] * 1e7), round(HOME[1] * 1e7), 0.0, 1,
            )  # fmt: skip
            assert await upload_mission(gcs, [circle], mission_type=1) == 0
            await set_param_acked(gcs, "GF_ACTION", 5, integer=True)  # Land
            await take_off(gcs, 10.0)
            lat, lon = offset(HOME[0], HOME[1], 0.0, 100.0)
            await gcs.command(192, -1, 1, 0, math.nan, lat, lon, HOME[2] + 10.0)
            await wait_mode(gcs, LAND, 40)
            pos = await gcs.recv_type("GLOBAL_POSITION_INT")
            assert distance_m(pos.lat * 1e-7, pos.lon * 1e-7, HOME[0], HOME[1]) < 55
