"""Fleets, ports, packet loss, stream rates and simulated time."""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import pytest
from mavsdk.asyncio.plugins.mission import MissionAsync, MissionError, MissionItem, MissionPlan
from pymavlink.dialects.v20 import common as mavlink
from sitl_helpers import (
    HOME,
    MavClient,
    distance_m,
    mavsdk_autopilot,
    offset,
    upload_mission,
    waypoint,
)

from sitl import SimConfig, SimFleet, SimPortInUseError, VehiclePorts, free_vehicle_ports


async def test_ten_vehicles_each_fly_their_own_mission(sim_fleet: Any) -> None:
    count = 10
    async with sim_fleet(count=count, speedup=20) as fleet:
        clients = [MavClient(fleet.api_port(i)) for i in range(count)]
        try:
            await asyncio.gather(*(c.wait_heard() for c in clients))
            targets = []
            for i, client in enumerate(clients):
                hb = await client.wait_heard()
                assert hb.get_srcSystem() == fleet.system_id(i)
                # Each its own patrol: out to a point in its own direction and on.
                a = offset(HOME[0], HOME[1], 20.0 + 3 * i, 10.0 * (i - 5))
                b = offset(HOME[0], HOME[1], 35.0 + 3 * i, 10.0 * (i - 5))
                targets.append(b)
                items = [waypoint(0, *a, 6.0 + i), waypoint(1, *b, 6.0 + i)]
                for item in items:
                    item.target_system = fleet.system_id(i)
                client.send(mavlink.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3))
                assert await upload_mission_to(client, items, fleet.system_id(i)) == 0
                ack = await client.command(300, 0, 0, target=fleet.system_id(i))
                assert ack.result == 0

            async def finished(i: int) -> Any:
                return await clients[i].recv_until(
                    lambda m: m.get_type() == "MISSION_ITEM_REACHED" and m.seq == 1, 60
                )

            await asyncio.gather(*(finished(i) for i in range(count)))
            for i, client in enumerate(clients):
                pos = await client.recv_type("GLOBAL_POSITION_INT")
                assert pos.get_srcSystem() == fleet.system_id(i)
                assert distance_m(pos.lat * 1e-7, pos.lon * 1e-7, *targets[i]) < 3.0
                assert abs(pos.relative_alt / 1000 - (6.0 + i)) < 1.0
        finally:
            for client in clients:
                client.close()


async def upload_mission_to(client: MavClient, items: list[Any], sysid: int) -> int:
    if sysid == 1:
        return await upload_mission(client, items)
    client.drain()
    client.send(mavlink.MAVLink_mission_count_message(sysid, 1, len(items), 0))
    while True:
        msg = await client.recv_until(
            lambda m: m.get_type() in ("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"),
            10,
        )
        if msg.get_type() == "MISSION_ACK":
            return int(msg.type)
        item = items[msg.seq]
        item.seq = msg.seq
        client.send(item)


async def test_packet_loss_is_tolerated_by_mavsdk(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=10, loss_pct=15.0, seed=7) as fleet:
        vehicle = fleet.builtin_vehicles("packet loss is a simulator setting")[0]
        async with mavsdk_autopilot(fleet.api_url(0), timeout_s=20) as system:
            mission = MissionAsync(system)
            plan = []
            for k in range(8):
                lat, lon = offset(HOME[0], HOME[1], 10.0 * k, 5.0 * k)
                plan.append(
                    MissionItem(latitude_deg=lat, longitude_deg=lon, relative_altitude_m=15.0)
                )
            # A lost final MISSION_ACK fails a MAVSDK transfer against real PX4
            # too (MAVSDK does not re-send then): the application retries.
            for attempt in range(4):
                try:
                    await mission.upload_mission(MissionPlan(plan))
                    got = await mission.download_mission()
                    break
                except MissionError:
                    if attempt == 3:
                        raise
            assert [round(i.latitude_deg, 6) for i in got.mission_items] == [
                round(i.latitude_deg, 6) for i in plan
            ]
        assert vehicle.api_link.dropped_datagrams > 0, "loss must really have happened"


async def test_set_message_interval_changes_a_rate_on_that_link_only(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=1) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs, MavClient(fleet.api_port(0)) as api:
            await gcs.wait_heard()
            await api.wait_heard()
            # BATTERY_STATUS: 0.5 Hz by default; ask for 20 Hz on the GCS link.
            ack = await gcs.command(511, 147, 50_000)
            assert ack.result == 0
            gcs.drain()
            api.drain()
            first = await gcs.recv_type("BATTERY_STATUS", timeout_s=2)
            count = 1
            t0 = asyncio.get_running_loop().time()
            while count < 10:
                await gcs.recv_type("BATTERY_STATUS", timeout_s=2)
                count += 1
            elapsed = asyncio.get_running_loop().time() - t0
            assert first is not None
            assert elapsed < 1.5, f"10 BATTERY_STATUS took {elapsed:.2f} s at 20 Hz"
            on_api = [m for m in api.received[api._cursor :] if m.get_type() == "BATTERY_STATUS"]
            assert len(on_api) <= 2, "the API link kept its own rate"


async def test_timestamps_follow_the_simulated_clock(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=25) as fleet:
        fleet.builtin_vehicles("compares against the simulator's clock")
        with MavClient(fleet.api_port(0)) as api:
            await api.wait_heard()
            t_wall = asyncio.get_running_loop().time()
            first = await api.recv_type("SYSTEM_TIME")
            second = await api.recv_until(
                lambda m: (
                    m.get_type() == "SYSTEM_TIME" and m.time_boot_ms > first.time_boot_ms + 20_000
                )
            )
            wall = asyncio.get_running_loop().time() - t_wall
            sim_ms = second.time_boot_ms - first.time_boot_ms
            unix_ms = (second.time_unix_usec - first.time_unix_usec) / 1000
            assert abs(unix_ms - sim_ms) < 50, "SYSTEM_TIME's two clocks agree"
            assert sim_ms / 1000 > 5 * wall, "simulated time runs faster than wall time"
            pos = await api.recv_type("GLOBAL_POSITION_INT")
            assert abs(pos.time_boot_ms - fleet.fleet.clock.time_boot_ms()) < 2000


async def test_port_in_use_is_reported_with_the_port() -> None:
    ports = free_vehicle_ports(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("0.0.0.0", ports[0].api_local))
        with pytest.raises(SimPortInUseError) as info:
            async with SimFleet(SimConfig(count=1, ports=ports)):
                pass
    assert str(ports[0].api_local) in str(info.value)
    assert "\n" not in str(info.value)


async def test_default_ports_follow_the_px4_convention() -> None:
    """The one test on PX4's fixed ports (every other test uses free ports)."""
    assert VehiclePorts.px4(2) == VehiclePorts(
        api_remote=14542, api_local=14582, gcs_remote=14550, gcs_local=18572, video=5602
    )
    try:
        listener = MavClient(14540)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            pytest.skip("UDP 14540 is taken by another simulator or ground station")
        raise
    with listener:
        try:
            fleet = SimFleet(SimConfig(count=1, speedup=5))
            await fleet.start()
        except SimPortInUseError as exc:
            pytest.skip(f"PX4 ports busy on this machine: {exc}")
        try:
            hb = await listener.wait_heard()
            assert hb.get_srcSystem() == 1
            assert listener.peer == ("127.0.0.1", 14580)  # it sends from its listen port
            ack = await listener.command(512, 148)
            assert ack.result == 0
        finally:
            await fleet.stop()
