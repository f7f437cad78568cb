"""MAVLink protocol behaviour at the wire, with pymavlink, as PX4 v1.16 SITL
does it (PX4-REFERENCE.md). Only MAVLink is used, so these run unchanged with
`--sitl px4`; the few checks that need simulator hooks skip there."""

from __future__ import annotations

import math
import socket
import struct
import time
from typing import Any

import pytest
from pymavlink.dialects.v20 import common as mavlink
from sitl_helpers import (
    HOME,
    LOITER,
    POSCTL,
    TAKEOFF,
    MavClient,
    distance_m,
    offset,
    upload_mission,
    wait_mode,
    wait_text,
    waypoint,
)

MAV_RESULT_ACCEPTED, TEMP_REJECTED, DENIED, UNSUPPORTED = 0, 1, 2, 3


async def test_heartbeat_identity_and_streams_from_boot(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            hb = await gcs.wait_heard()  # nobody has spoken to the vehicle yet
            assert hb.get_srcSystem() == fleet.system_id(0)
            assert hb.get_srcComponent() == 1
            assert (hb.type, hb.autopilot, hb.mavlink_version) == (2, 12, 3)
            assert (hb.base_mode, hb.custom_mode, hb.system_status) == (29, LOITER, 3)
            assert hb.get_msgbuf()[0] == 0xFD, "MAVLink 2 framing"
            status = await gcs.recv_type("SYS_STATUS")
            gps_bit = 32
            assert status.onboard_control_sensors_present & gps_bit
            assert status.onboard_control_sensors_health & gps_bit
            assert status.onboard_control_sensors_health & (1 << 28), "pre-arm checks pass"
            assert 95 <= status.battery_remaining <= 100
            ext = await gcs.recv_type("EXTENDED_SYS_STATE")
            assert ext.landed_state == 1
            pos = await gcs.recv_type("GLOBAL_POSITION_INT")
            assert distance_m(pos.lat * 1e-7, pos.lon * 1e-7, HOME[0], HOME[1]) < 20
            assert abs(pos.relative_alt) < 200  # mm
            home = await gcs.recv_type("HOME_POSITION", timeout_s=5)
            assert abs(home.altitude / 1000 - HOME[2]) < 1.0


async def test_retargets_to_the_first_peer_that_sends(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.gcs_port(0)) as default_peer:
            await default_peer.wait_heard()
        # A client on another port speaks first: the vehicle streams to it from then on.
        with MavClient(0) as client:
            client.peer = ("127.0.0.1", fleet.gcs_local_port(0))
            client.heartbeat()
            hb = await client.recv_until(
                lambda m: m.get_type() == "HEARTBEAT" and m.autopilot == 12
            )
            assert hb.get_srcSystem() == fleet.system_id(0)
            ack = await client.command(512, 148)  # REQUEST_MESSAGE(AUTOPILOT_VERSION)
            assert ack.result == MAV_RESULT_ACCEPTED


async def test_autopilot_version_unknown_command_and_acks_on_every_link(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.api_port(0)) as api, MavClient(fleet.gcs_port(0)) as gcs:
            await api.wait_heard()
            await gcs.wait_heard()
            ack = await api.command(512, 148)
            assert (ack.result, ack.progress, ack.result_param2) == (MAV_RESULT_ACCEPTED, 0, 0)
            assert (ack.target_system, ack.target_component) == (255, 190)
            version = await api.recv_type("AUTOPILOT_VERSION")
            assert version.capabilities == 0xE8FF
            assert version.flight_sw_version == 0x011000FF
            gcs.drain()
            ack = await api.command(31010, 1, 2, 3)  # no such command
            assert ack.result == UNSUPPORTED
            # The GCS link sees the same ack, addressed to the API client.
            other = await gcs.recv_type("COMMAND_ACK", command=31010)
            assert (other.result, other.target_system) == (UNSUPPORTED, 255)


async def test_set_mode_double_ack_posctl_rules_and_takeoff_while_disarmed(
    sim_fleet: Any,
) -> None:
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            # On the ground: POSCTL is accepted, but the vehicle is then not armable.
            first = await gcs.command(176, 1, 3, 0)
            second = await gcs.recv_type("COMMAND_ACK", command=176)
            assert (first.result, second.result) == (0, 0)
            hb = await wait_mode(gcs, POSCTL)
            assert (hb.base_mode, hb.system_status) == (81, 0)
            ack = await gcs.command(400, 1)
            assert ack.result == TEMP_REJECTED
            await wait_text(gcs, "Arming denied: Resolve system health failures first")
            # NAV_TAKEOFF while disarmed switches to AUTO.TAKEOFF and stays disarmed.
            gcs.drain()
            ack = await gcs.command(22, 0, 0, 0, math.nan, math.nan, math.nan, math.nan)
            assert ack.result == MAV_RESULT_ACCEPTED
            hb = await wait_mode(gcs, TAKEOFF)
            assert hb.base_mode == 29
            ack = await gcs.command(400, 1)
            assert ack.result == MAV_RESULT_ACCEPTED
            text = await wait_text(gcs, "Armed by external command")
            assert text.endswith("\t"), "PX4 ends STATUSTEXT with a tab"
            await gcs.recv_until(
                lambda m: m.get_type() == "EXTENDED_SYS_STATE" and m.landed_state == 2, 30
            )
            await wait_mode(gcs, LOITER, 30)
            # In flight, POSCTL without RC is refused by the second ack.
            first = await gcs.command(176, 1, 3, 0)
            await wait_text(gcs, "Switching to Position is currently not available")
            second = await gcs.recv_type("COMMAND_ACK", command=176)
            assert (first.result, second.result) == (0, TEMP_REJECTED)


async def test_reposition_needs_the_change_mode_flag(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            await gcs.command(22, 0, 0, 0, math.nan, math.nan, math.nan, math.nan)
            await gcs.command(400, 1)
            await wait_mode(gcs, LOITER, 30)
            lat, lon = offset(HOME[0], HOME[1], 40.0, -30.0)
            args = (-1.0, 0.0, 0.0, math.nan, lat, lon, HOME[2] + 15.0)
            assert (await gcs.command(192, *args)).result == UNSUPPORTED
            args = (-1.0, 1.0, 0.0, math.nan, lat, lon, HOME[2] + 15.0)
            assert (await gcs.command(192, *args)).result == MAV_RESULT_ACCEPTED

            def arrived(m: Any) -> bool:
                return (
                    m.get_type() == "GLOBAL_POSITION_INT"
                    and distance_m(m.lat * 1e-7, m.lon * 1e-7, lat, lon) < 1.5
                    and abs(m.relative_alt / 1000 - 15.0) < 1.0
                )

            await gcs.recv_until(arrived, 30)


def _as_int32(wire: float) -> int:
    value: int = struct.unpack("<i", struct.pack("<f", wire))[0]
    return value


async def test_parameters_list_hash_bytewise_set_get(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.drain()
            gcs.send(mavlink.MAVLink_param_request_list_message(1, 1))
            values: dict[str, Any] = {}
            while "_HASH_CHECK" not in values:
                msg = await gcs.recv_type("PARAM_VALUE", timeout_s=10)
                values[msg.param_id] = msg
            hash_check = values.pop("_HASH_CHECK")
            assert (hash_check.param_index, hash_check.param_type) == (65535, 5)
            count = next(iter(values.values())).param_count
            assert len(values) == count
            assert sorted(v.param_index for v in values.values()) == list(range(count))
            sys_id = values["MAV_SYS_ID"]
            assert sys_id.param_type == 6
            assert _as_int32(sys_id.param_value) == fleet.system_id(0)  # byte-wise INT32
            for name, default in {
                "MIS_TAKEOFF_ALT": 2.5,
                "NAV_ACC_RAD": 2.0,
                "RTL_RETURN_ALT": 30.0,
                "MPC_XY_CRUISE": 5.0,
                "MPC_TKO_SPEED": 1.5,
                "MPC_LAND_SPEED": 0.7,
                "COM_DISARM_LAND": 2.0,
            }.items():
                assert values[name].param_value == pytest.approx(default), name
            for name, default in {"NAV_DLL_ACT": 0, "NAV_RCL_ACT": 2, "COM_RC_IN_MODE": 1}.items():
                assert _as_int32(values[name].param_value) == default, name

            # An unknown name gets no reply: the next reply is for the known one.
            gcs.drain()
            gcs.send(mavlink.MAVLink_param_request_read_message(1, 1, b"NO_SUCH_PARAM", -1))
            gcs.send(mavlink.MAVLink_param_request_read_message(1, 1, b"RTL_RETURN_ALT", -1))
            reply = await gcs.recv_type("PARAM_VALUE")
            assert reply.param_id == "RTL_RETURN_ALT"

            gcs.send(mavlink.MAVLink_param_set_message(1, 1, b"MIS_TAKEOFF_ALT", 6.0, 9))
            echo = await gcs.recv_type("PARAM_VALUE", param_id="MIS_TAKEOFF_ALT")
            assert echo.param_value == pytest.approx(6.0)
            # ... and it changes behaviour: the default takeoff now climbs to 6 m.
            gcs.heartbeat()
            await gcs.command(22, 0, 0, 0, math.nan, math.nan, math.nan, math.nan)
            await wait_text(gcs, "Using default takeoff altitude: 6.0 m")
            await gcs.command(400, 1)
            await wait_mode(gcs, LOITER, 30)
            pos = await gcs.recv_type("GLOBAL_POSITION_INT")
            assert abs(pos.relative_alt / 1000 - 6.0) < 0.8


async def test_mission_upload_legacy_then_int_retry_and_errors(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            lat, lon = offset(HOME[0], HOME[1], 20.0, 0.0)
            items = [waypoint(0, lat, lon, 10.0), waypoint(1, HOME[0], HOME[1], 10.0)]
            gcs.drain()
            gcs.send(mavlink.MAVLink_mission_count_message(1, 1, 2, 0))
            first = await gcs.recv_until(lambda m: m.get_type().startswith("MISSION_REQUEST"))
            assert (first.get_type(), first.seq) == ("MISSION_REQUEST", 0), "legacy first"
            t0 = time.monotonic()
            again = await gcs.recv_until(lambda m: m.get_type().startswith("MISSION_REQUEST"))
            assert again.seq == 0
            assert 0.2 <= time.monotonic() - t0 < 1.5, "re-requested after ~250 ms"
            gcs.send(items[0])
            nxt = await gcs.recv_until(
                lambda m: m.get_type().startswith("MISSION_REQUEST") and m.seq == 1
            )
            assert nxt.get_type() == "MISSION_REQUEST_INT", "INT once an ITEM_INT arrived"
            gcs.send(items[1])
            ack = await gcs.recv_type("MISSION_ACK")
            assert ack.type == 0

            # Download: frame 6, current marks item 0, NaN yaw echoed.
            gcs.drain()
            gcs.send(mavlink.MAVLink_mission_request_list_message(1, 1, 0))
            count = await gcs.recv_type("MISSION_COUNT")
            assert count.count == 2
            gcs.send(mavlink.MAVLink_mission_request_int_message(1, 1, 0, 0))
            item = await gcs.recv_type("MISSION_ITEM_INT")
            assert (item.seq, item.frame, item.command, item.current) == (0, 6, 16, 1)
            assert (item.x, item.y) == (items[0].x, items[0].y)
            assert math.isnan(item.param4)
            gcs.send(mavlink.MAVLink_mission_request_int_message(1, 1, 1, 0))
            item = await gcs.recv_type("MISSION_ITEM_INT", seq=1)
            gcs.send(mavlink.MAVLink_mission_ack_message(1, 1, 0, 0))

            # An unsupported command is refused right after that item.
            bad = [waypoint(0, lat, lon, 10.0), waypoint(1, lat, lon, 10.0, command=31000)]
            assert await upload_mission(gcs, bad) == 3
            await wait_text(gcs, "IGN MISSION_ITEM: Invalid item")
            # Too many items; clearing.
            gcs.drain()
            gcs.send(mavlink.MAVLink_mission_count_message(1, 1, 60000, 0))
            assert (await gcs.recv_type("MISSION_ACK")).type == 4  # NO_SPACE
            gcs.send(mavlink.MAVLink_mission_clear_all_message(1, 1, 0))
            assert (await gcs.recv_type("MISSION_ACK")).type == 0
            gcs.send(mavlink.MAVLink_mission_request_list_message(1, 1, 0))
            assert (await gcs.recv_type("MISSION_COUNT")).count == 0


async def test_mission_upload_gives_up_after_five_seconds(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.send(mavlink.MAVLink_mission_count_message(1, 1, 3, 0))
            t0 = time.monotonic()
            await wait_text(gcs, "Operation timeout", timeout_s=10)
            assert 4.5 <= time.monotonic() - t0 < 8.0
            # The vehicle is idle again: a new upload starts cleanly.
            lat, lon = offset(HOME[0], HOME[1], 10.0, 0.0)
            assert await upload_mission(gcs, [waypoint(0, lat, lon, 5.0)]) == 0


def test_free_ports_are_distinct_and_bindable() -> None:
    from sitl import free_vehicle_ports

    ports = free_vehicle_ports(3)
    numbers = [getattr(p, f) for p in ports for f in ("api_remote", "api_local", "gcs_remote")]
    assert len(set(numbers)) == len(numbers)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", ports[0].api_local))


async def test_every_command_is_acked_whatever_its_parameters(
    sim_fleet: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Hostile values (NaN, infinities, huge) never go unanswered."""
    nasty = [math.nan, math.inf, -math.inf, 1e30, -1.0, 0.0]
    commands = [400, 22, 21, 20, 300, 192, 193, 178, 179, 512, 520, 410, 511, 510, 420, 176]
    async with sim_fleet(count=1, speedup=10) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            assert gcs.peer is not None
            gcs.sock.sendto(b"\xfd\x09garbage-not-mavlink" * 20, gcs.peer)  # and noise
            for command in commands:
                for value in nasty:
                    ack = await gcs.command(command, *([value] * 7))
                    assert ack.result in (0, 1, 2, 3, 4), (command, value)
            # COMMAND_INT as MAVSDK's goto_location sends it (frame GLOBAL_INT, AMSL).
            gcs.drain()
            lat, lon = offset(HOME[0], HOME[1], 10.0, 10.0)
            goto = mavlink.MAVLink_command_int_message(
                1, 1, 5, 192, 0, 0, -1, 1, 0, math.nan,
                round(lat * 1e7), round(lon * 1e7), HOME[2] + 20,
            )  # fmt: skip
            gcs.send(goto)
            ack = await gcs.recv_type("COMMAND_ACK", command=192)
            assert ack.result == MAV_RESULT_ACCEPTED
            assert (await gcs.wait_heard()).autopilot == 12  # still alive
    assert not [r for r in caplog.records if r.name.startswith("sitl")], "handler raised"
