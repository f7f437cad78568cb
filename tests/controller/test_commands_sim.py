"""Direct commands against the simulator: validated before sending, audited, one at a time."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from drone_ops.audit import MemoryAuditLog
from drone_ops.commands import Command, CommandRefused
from drone_ops.geofence import distance_m
from drone_ops.link.policy import LinkState
from drone_ops.state import LandedState
from sitl import SimConfig, SimFleet, VehiclePorts, free_vehicle_ports
from tests.controller.conftest import ControllerFactory, patrol

pytestmark = pytest.mark.slow


async def test_manual_flight_commands_are_checked_audited_and_serialised(
    controller: ControllerFactory,
) -> None:
    async with controller() as c:
        s = c.sessions[0]
        fence_plan = patrol(s)  # a fence around home, ~3x the patrol's size
        s.fence = fence_plan.fence
        home = s.state.home
        assert home is not None
        await c.fleet.command("v1", Command.ARM, actor="officer:1")
        await c.fleet.command("v1", Command.TAKEOFF, rel_alt_m=12.0, actor="officer:1")
        await s.wait_for(lambda st: (st.rel_alt_m or 0) > 11.0, timeout_s=30)

        # outside the fence and above the ceiling: refused before anything is sent
        with pytest.raises(CommandRefused, match="geofence"):
            await s.goto(home.lat_deg + 0.01, home.lon_deg, 12.0)
        with pytest.raises(CommandRefused, match="above the ceiling 120 m"):
            await s.goto(home.lat_deg, home.lon_deg, 200.0)
        refused = [e for e in c.audit.entries if e.action == "command.goto.result"]
        assert [e.payload["result"] for e in refused] == ["refused", "refused"]
        here = s.state  # nothing was sent: the vehicle still hovers over home
        assert distance_m(here.lat_deg or 0, here.lon_deg or 0, home.lat_deg, home.lon_deg) < 2.0

        # inside: the vehicle goes there
        target = (home.lat_deg + 0.0002, home.lon_deg + 0.0002)
        await c.fleet.command(
            "v1", Command.GOTO, lat_deg=target[0], lon_deg=target[1], rel_alt_m=15.0
        )
        await s.wait_for(
            lambda st: distance_m(st.lat_deg or 0, st.lon_deg or 0, *target) < 2.0, timeout_s=30
        )

        # two commands at once to one vehicle: sent one after the other, never interleaved
        start = len(c.audit.entries)
        await asyncio.gather(s.set_speed(3.0), s.hold())
        pairs = [e.action for e in c.audit.entries[start:]]
        assert pairs in (
            ["command.set_speed.request", "command.set_speed.result",
             "command.hold.request", "command.hold.result"],
            ["command.hold.request", "command.hold.result",
             "command.set_speed.request", "command.set_speed.result"],
        )  # fmt: skip

        await c.fleet.command("v1", Command.LAND)
        down = await s.wait_for(
            lambda st: not st.armed and st.landed is LandedState.ON_GROUND, timeout_s=60
        )
        assert down.rel_alt_m is not None
        assert down.rel_alt_m < 0.5
        results = [e.payload["result"] for e in c.audit.entries if e.action.endswith(".result")]
        assert results.count("refused") == 2
        assert all(e.actor == "officer:1" for e in c.audit.entries[:4])


async def test_a_new_system_id_on_the_link_is_noticed(
    controller: ControllerFactory,
) -> None:
    async with controller() as c:
        s = c.sessions[0]
        old_ports: VehiclePorts = c.sim.ports[0]
        assert s.system_id == 1
        c.sim.vehicles[0].set_link_down(1e6)  # the first vehicle goes silent for good
        await s.wait_for(lambda st: st.link is LinkState.LOST, timeout_s=10)
        # another autopilot (system id 7) now talks on the same link
        fresh = free_vehicle_ports(1)[0]
        other = dataclasses.replace(fresh, api_remote=old_ports.api_remote)
        async with SimFleet(SimConfig(count=1, speedup=10, ports=[other], sys_id_base=7)):
            await s.wait_for(lambda st: st.system_id == 7, timeout_s=10)
            await s.wait_for(lambda st: st.link is LinkState.CONNECTED, timeout_s=10)
            kinds = [e.kind for e in s.link_events]
            assert "system_id_changed" in kinds
            changed = next(e for e in s.link_events if e.kind == "system_id_changed")
            assert "1 → 7" in changed.detail
            # and the new vehicle answers commands through the shared MAVSDK
            await s.wait_connected(10)
            await s.hold()
            assert isinstance(c.audit, MemoryAuditLog)
            assert c.audit.entries[-1].payload["result"] == "ok"
