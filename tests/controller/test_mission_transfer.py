"""The mission client against the simulated vehicle, over a real UDP socket.

Each test takes away one frame the protocol depends on, at the worst moment
(the vehicle's final ACK of an upload, our final ACK of a download), or sends
what the vehicle refuses, and checks that the transfer recovers or fails with
the vehicle's answer in one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from drone_ops.link.address import parse_address
from drone_ops.link.frames import FrameSplitter
from drone_ops.link.mission_transfer import MissionClient, MissionTransferError, RetryTimer
from drone_ops.link.transport import open_transport
from drone_ops.plan_sync import first_difference
from missions.mavlink import MavItem, MissionType
from sitl import SimConfig, SimFleet, SimVehicle, free_vehicle_ports

NAV_WAYPOINT, NAV_TAKEOFF, NAV_RTL = 16, 22, 20
FRAME_REL_INT = 6
HOME_X, HOME_Y = 473977430, 85455940


def waypoints(n: int) -> list[MavItem]:
    items = [MavItem(seq=0, frame=FRAME_REL_INT, command=NAV_TAKEOFF, x=HOME_X, y=HOME_Y, z=20)]
    items += [
        MavItem(
            seq=k, frame=FRAME_REL_INT, command=NAV_WAYPOINT, x=HOME_X + 100 * k, y=HOME_Y, z=20
        )
        for k in range(1, n - 1)
    ]
    items.append(MavItem(seq=n - 1, frame=FRAME_REL_INT, command=NAV_RTL))
    return items


@dataclass
class Rig:
    sim: SimFleet
    vehicle: SimVehicle
    client: MissionClient
    sysid: int
    clients: list[MissionClient]  # every ground-station component on the link
    send: Any

    def another_component(self, compid: int) -> MissionClient:
        other = MissionClient(self.send, stall_s=5.0, src_component=compid)
        self.clients.append(other)
        return other


@asynccontextmanager
async def rig() -> AsyncIterator[Rig]:
    """One simulated vehicle and a mission client on the controller's side of its API link."""
    ports = free_vehicle_ports(1)
    async with SimFleet(SimConfig(count=1, speedup=10.0, ports=ports)) as sim:
        splitter = FrameSplitter(stream=False)
        clients: list[MissionClient] = []
        heard: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_bytes(data: bytes) -> None:
            for frame in splitter.feed(data):
                if frame.msgid == 0 and not heard.done():
                    heard.set_result(frame.sysid)
                for client in clients:
                    client.handle(frame)

        transport = await open_transport(
            parse_address(f"udpin://127.0.0.1:{ports[0].api_remote}"), on_bytes
        )
        try:
            clients.append(MissionClient(transport.send, stall_s=5.0))
            sysid = await asyncio.wait_for(heard, 20)
            yield Rig(
                sim=sim,
                vehicle=sim.vehicles[0],
                client=clients[0],
                sysid=sysid,
                clients=clients,
                send=transport.send,
            )
        finally:
            transport.close()


async def test_upload_and_download_round_trip_all_three_lists() -> None:
    async with rig() as r:
        mission = waypoints(12)
        await r.client.clear(r.sysid)
        await r.client.upload(r.sysid, MissionType.MISSION, mission)
        held = await r.client.download(r.sysid, MissionType.MISSION)
        assert first_difference("mission", mission, held) is None
        assert [it.command for it in r.vehicle.mission.items[MissionType.MISSION]] == [
            it.command for it in mission
        ]
        rally = [MavItem(seq=0, frame=FRAME_REL_INT, command=5100, x=HOME_X, y=HOME_Y, z=30)]
        await r.client.upload(r.sysid, MissionType.RALLY, rally)
        assert (
            first_difference("rally", rally, await r.client.download(r.sysid, MissionType.RALLY))
            is None
        )
        assert await r.client.download(r.sysid, MissionType.FENCE) == []


async def test_a_lost_final_upload_ack_is_asked_for_again() -> None:
    async with rig() as r:
        dropped: list[Any] = []
        for link in r.vehicle.links:  # the API link, whichever it is
            link.send_msg = _dropping_first_ack(link.send_msg, dropped)  # type: ignore[method-assign]
        mission = waypoints(6)
        await r.client.upload(r.sysid, MissionType.MISSION, mission)
        assert len(dropped) == 1, "the vehicle's ACK was never dropped: the test proves nothing"
        assert dropped[0].type == 0
        assert len(r.vehicle.mission.items[MissionType.MISSION]) == len(mission)


async def test_a_lost_final_download_ack_does_not_block_the_next_upload() -> None:
    async with rig() as r:
        await r.client.upload(r.sysid, MissionType.MISSION, waypoints(5))
        handle = r.vehicle.mission.handle
        dropped: list[Any] = []

        def drop_our_first_ack(link: Any, msg: Any) -> None:
            if msg.get_type() == "MISSION_ACK" and not dropped:
                dropped.append(msg)
                return
            handle(link, msg)

        r.vehicle.mission.handle = drop_our_first_ack  # type: ignore[method-assign]
        await r.client.download(r.sysid, MissionType.MISSION)
        await r.sim.wait_until(lambda: bool(dropped), timeout_s=10)  # our ACK reached it
        assert r.vehicle.mission.busy(), "the vehicle should still be sending its list"
        # Another list: the vehicle's "Busy" ACK names the mission list it still sends.
        rally = [MavItem(seq=0, frame=FRAME_REL_INT, command=5100, x=HOME_X, y=HOME_Y, z=30)]
        await r.client.upload(r.sysid, MissionType.RALLY, rally)  # not refused as "Busy"
        assert len(r.vehicle.mission.items[MissionType.RALLY]) == 1


async def test_acks_addressed_to_the_previous_partner_still_count() -> None:
    """PX4 sends the ACK of CLEAR_ALL (and of an empty COUNT) to the last transfer's
    partner: after another component's transfer, our clear must still complete."""
    async with rig() as r:
        other = r.another_component(190)
        await other.upload(r.sysid, MissionType.MISSION, waypoints(4))
        await r.client.clear(r.sysid)  # acknowledged to 245/190, the last partner
        await r.client.upload(r.sysid, MissionType.MISSION, [])
        assert r.vehicle.mission.items[MissionType.MISSION] == []


async def test_an_item_the_vehicle_refuses_fails_at_once_with_its_answer() -> None:
    async with rig() as r:
        before = list(r.vehicle.mission.items[MissionType.MISSION])
        bad = [*waypoints(4)]
        bad[2] = MavItem(seq=2, frame=FRAME_REL_INT, command=31337, x=HOME_X, y=HOME_Y, z=20)
        with pytest.raises(MissionTransferError) as refused:
            await r.client.upload(r.sysid, MissionType.MISSION, bad)
        assert refused.value.result == "upload mission: vehicle answered UNSUPPORTED after item 2"
        assert r.vehicle.mission.items[MissionType.MISSION] == before
        assert not r.vehicle.mission.busy()


def _dropping_first_ack(send: Any, dropped: list[Any]) -> Any:
    def send_unless_first_ack(msg: Any) -> None:
        if msg.get_type() == "MISSION_ACK" and not dropped:
            dropped.append(msg)
            return
        send(msg)

    return send_unless_first_ack


def test_retry_timer_follows_the_link_and_backs_off() -> None:
    timer = RetryTimer()
    assert timer.timeout_s == pytest.approx(0.25)  # nothing measured yet
    for _ in range(20):
        timer.sample(0.002)  # a fast, steady link
    assert timer.timeout_s == pytest.approx(timer.min_s)
    for _ in range(20):
        timer.sample(0.4)  # a slow radio
    assert 0.4 < timer.timeout_s < 1.0
    steady = timer.timeout_s
    timer.retried()
    assert timer.timeout_s == pytest.approx(min(timer.max_s, 2 * steady))
    for _ in range(10):
        timer.retried()
    assert timer.timeout_s == timer.max_s
    timer.answered()
    assert timer.timeout_s == pytest.approx(steady)
