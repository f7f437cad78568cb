"""MAVLink packet loss during mission upload and during flight (simulator `loss_pct`).

What must hold afterwards: an upload at 30 % loss each way succeeds and the
vehicle holds exactly the plan (the controller downloads and compares); an
upload whose link dies fails with a one-line reason while the vehicle stays
disarmed on the ground, and the next one succeeds once the link is back;
every command has its request and result in the audit chain and the chain
verifies; a sortie whose link turns lossy in
flight still completes and ends landed and disarmed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from drone_ops.audit import GENESIS_HASH, MemoryAuditLog, entry_hash
from drone_ops.commands import CommandFailed
from drone_ops.config import ControllerConfig
from drone_ops.fleet import Fleet
from drone_ops.plan_sync import first_difference
from drone_ops.sortie import SortieOutcome, SortiePhase
from missions import mission_items
from sitl import SimConfig, SimFleet, free_vehicle_ports
from sitl.mission import MissionType
from tests.controller.conftest import SPEEDUP, ControllerFactory, patrol

pytestmark = pytest.mark.slow


def set_loss(sim: Any, loss_pct: float) -> None:
    """Change the simulated radio's loss on every link of every vehicle, both ways."""
    for vehicle in sim.builtin_vehicles("changes the simulator's packet loss"):
        set_vehicle_loss(vehicle, loss_pct)


def set_vehicle_loss(vehicle: Any, loss_pct: float) -> None:
    for link in vehicle.links:
        link._loss = loss_pct / 100.0


def assert_chain_verifies(audit: MemoryAuditLog) -> None:
    prev = GENESIS_HASH
    for e in audit.entries:
        body = {
            "seq": e.seq,
            "time_utc": e.time_utc.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "payload": e.payload,
        }
        assert e.prev_hash == prev, f"entry {e.seq} does not follow its predecessor"
        assert e.hash == entry_hash(prev, body), f"entry {e.seq} was altered"
        prev = e.hash


def assert_requests_have_results(audit: MemoryAuditLog) -> None:
    actions = [e.action for e in audit.entries if e.action.startswith("command.")]
    requests = [a.removesuffix(".request") for a in actions if a.endswith(".request")]
    results = [a.removesuffix(".result") for a in actions if a.endswith(".result")]
    assert sorted(requests) == sorted(results), actions


async def test_upload_at_30pct_loss_holds_the_plan_and_flies(
    controller: ControllerFactory,
) -> None:
    async with controller(loss_pct=30.0) as c:
        s = c.sessions[0]
        plan = patrol(s)
        resent_before = s.mission_retries
        await s.upload_plan(plan)  # uploads, downloads again and compares: all through loss
        assert s.mission_retries > resent_before, "nothing was lost: the test proves nothing"
        held = await s.held_mission()
        assert not first_difference("mission", mission_items(plan), held)
        vehicle = c.sim.vehicles[0]
        assert [it.command for it in vehicle.mission.items[MissionType.MISSION]] == [
            it.command for it in mission_items(plan)
        ]
        assert not vehicle.armed
        assert_requests_have_results(c.audit)
        assert_chain_verifies(c.audit)
        set_loss(c.sim, 0.0)
        # Preflight wants a heartbeat within 2.5 s: one after the lossy spell, not a stale one.
        await s.wait_for(
            lambda st: st.heartbeat_age_s is not None and st.heartbeat_age_s < 0.5, timeout_s=10
        )
        result = await c.fleet.fly("v1", plan)
        assert result.outcome is SortieOutcome.COMPLETED, result.reason
        assert result.landed_and_disarmed


async def test_upload_cut_off_fails_closed_and_the_next_one_needs_no_wait(
    sitl_kind: str,
) -> None:
    """The radio goes silent mid-upload: the upload fails with one line; when the link is
    back the vehicle still holds our half transfer open ("Busy"), and the next upload ends
    it and succeeds without waiting out the vehicle's own 5 s timer."""
    if sitl_kind != "builtin":
        pytest.skip("cuts the built-in simulator's radio")
    ports = free_vehicle_ports(1)
    base = ControllerConfig().scaled(SPEEDUP)
    cfg = replace(base, timeouts=replace(base.timeouts, mission_upload_s=1.5))
    async with (
        SimFleet(SimConfig(count=1, speedup=SPEEDUP, ports=ports)) as sim,
        Fleet(audit=(audit := MemoryAuditLog()), config=cfg) as fleet,
    ):
        s = await fleet.add_vehicle("v1", f"udpin://127.0.0.1:{ports[0].api_remote}")
        await s.wait_for(lambda st: st.home is not None, timeout_s=20)
        plan = patrol(s)
        vehicle = sim.vehicles[0]

        handle = vehicle.mission.handle

        def cut_after_third_item(link: Any, msg: Any) -> None:
            handle(link, msg)
            if vehicle.mission.busy() and vehicle.mission._seq >= 3:
                set_vehicle_loss(vehicle, 100.0)  # the radio goes out of range mid-transfer

        vehicle.mission.handle = cut_after_third_item  # type: ignore[method-assign]
        with pytest.raises(CommandFailed) as failed:
            await s.upload_plan(plan)
        vehicle.mission.handle = handle  # type: ignore[method-assign]
        message = str(failed.value)
        assert "\n" not in message
        assert "upload_plan" in message, message
        assert "no progress" in message, message
        assert vehicle.mission.busy(), "the vehicle should still hold the cut transfer open"
        assert not vehicle.armed
        set_vehicle_loss(vehicle, 0.0)
        await s.upload_plan(plan)  # must not fail with the vehicle's "Busy"
        assert len(vehicle.mission.items[MissionType.MISSION]) == len(mission_items(plan))
        assert_requests_have_results(audit)
        assert_chain_verifies(audit)


async def test_loss_in_flight_the_sortie_still_completes_and_lands(
    controller: ControllerFactory,
) -> None:
    async with controller() as c:
        s = c.sessions[0]
        plan = patrol(s)
        async with c.fleet.subscribe_progress("test") as sub:
            c.fleet.start_sortie("v1", plan)
            while True:
                p = await sub.get()
                if p.phase is SortiePhase.FLYING:
                    break
            set_loss(c.sim, 15.0)  # both ways, from take-off to landing
            result = await c.fleet.sortie_result("v1")
        assert result.outcome is SortieOutcome.COMPLETED, result.reason
        assert result.landed_and_disarmed
        vehicle = c.sim.vehicles[0]
        assert not vehicle.armed
        assert not vehicle.in_air()
        assert s.state.link_loss_pct is not None
        assert s.state.link_loss_pct > 0  # the controller saw the loss it flew through
        assert_requests_have_results(c.audit)
        assert_chain_verifies(c.audit)
