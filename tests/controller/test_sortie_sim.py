"""Sorties flown against the simulator over real UDP: the runner's outcomes and records."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from drone_ops.commands import CommandFailed
from drone_ops.geofence import distance_m
from drone_ops.link.policy import LinkState
from drone_ops.session import MissionMismatch
from drone_ops.sortie import SortieOutcome, SortiePhase
from drone_ops.state import FlightMode, LandedState
from telemetry.tlog import read_tlog
from tests.controller.conftest import (
    FAILURE_OFF,
    FAILURE_UNIT_BATTERY,
    FAILURE_UNIT_GPS,
    INJECT_FAILURE,
    ControllerFactory,
    patrol,
    send_command,
)

pytestmark = pytest.mark.slow

# Sorties that only fly (not the link-loss one, whose outage must outlast our
# 3 wall-second heartbeat loss and end mid-return) run at 25x: a tick is
# then 0.5 simulated s and the physics substeps at 50 ms, so flights are the
# same. The waits below are wall seconds (more generous per flight); the
# controller's 60 vehicle-s take-off wait becomes 2.4 wall s (take-off: ~0.1 s).
FLY_SPEEDUP = 25.0


def _near_home(state: Any, within_m: float = 5.0) -> bool:
    home = state.home
    return distance_m(state.lat_deg, state.lon_deg, home.lat_deg, home.lon_deg) < within_m


async def test_full_sortie_completes_and_is_recorded(controller: ControllerFactory) -> None:
    async with controller(speedup=FLY_SPEEDUP) as c:
        s = c.sessions[0]
        plan = patrol(s)
        progress: list[Any] = []
        async with c.fleet.subscribe_progress("test") as sub:
            result = await c.fleet.fly("v1", plan)
            while (p := sub.get_nowait()) is not None:
                progress.append(p)
        assert result.outcome is SortieOutcome.COMPLETED, result.reason
        assert result.landed_and_disarmed
        state = s.state
        assert not state.armed
        assert state.landed is LandedState.ON_GROUND
        assert _near_home(state)
        assert state.battery_pct is not None
        assert state.battery_pct < 100
        assert c.recorder.rows[result.sortie_id].outcome is SortieOutcome.COMPLETED
        # every command: request written before it was sent, result after
        assert c.actions("v1") == [
            "command.upload_plan.request",
            "command.upload_plan.result",
            "command.arm.request",
            "command.arm.result",
            "command.start_mission.request",
            "command.start_mission.result",
        ]
        results = [e.payload for e in c.audit.entries if e.action.endswith(".result")]
        assert all(r["result"] == "ok" for r in results)
        # progress went through the phases and reached the last item
        phases = [p.phase for p in progress]
        assert SortiePhase.FLYING in phases
        assert phases[-1] is SortiePhase.CLOSED
        assert max(p.item or 0 for p in progress) == progress[-1].total
        # the tlog holds both directions of the vehicle's MAVLink stream
        assert result.tlog_path is not None
        frames = list(read_tlog(result.tlog_path))
        from_vehicle = {f.msg_type for f in frames if f.system_id == 1}
        from_us = {f.msg_type for f in frames if f.system_id != 1}
        assert {"HEARTBEAT", "GLOBAL_POSITION_INT", "MISSION_ITEM_REACHED"} <= from_vehicle
        assert {"MISSION_COUNT", "COMMAND_LONG"} <= from_us
        assert state.link_rate_hz is not None
        assert state.link_rate_hz > 20


async def test_pause_holds_and_resume_completes(controller: ControllerFactory) -> None:
    async with controller(speedup=FLY_SPEEDUP) as c:
        s = c.sessions[0]
        sortie = c.fleet.start_sortie("v1", patrol(s))
        await s.wait_for(lambda st: st.in_air and (st.mission_seq or 0) >= 2, timeout_s=30)
        await sortie.pause(actor="officer:7")
        held = await s.wait_for(lambda st: st.mode is FlightMode.AUTO_LOITER, timeout_s=10)
        seq_at_pause = held.mission_seq
        # holding: the vehicle slows to a stop and stays on the same item
        await s.wait_for(
            lambda st: st.ground_speed_m_s is not None and st.ground_speed_m_s < 0.3, timeout_s=20
        )
        assert s.state.mission_seq == seq_at_pause
        assert sortie.phase is SortiePhase.PAUSED
        await sortie.resume(actor="officer:7")
        result = await c.fleet.sortie_result("v1")
        assert result.outcome is SortieOutcome.COMPLETED, result.reason
        assert "paused" in result.events
        assert "resumed" in result.events
        pause = [e for e in c.audit.entries if e.action == "command.pause.request"]
        assert pause[0].actor == "officer:7"


async def test_abort_returns_home_and_closes_aborted(controller: ControllerFactory) -> None:
    async with controller(speedup=FLY_SPEEDUP) as c:
        s = c.sessions[0]
        sortie = c.fleet.start_sortie("v1", patrol(s, north_m=80))
        await s.wait_for(lambda st: st.in_air and (st.mission_seq or 0) >= 2, timeout_s=30)
        await sortie.abort(actor="officer:9")
        result = await c.fleet.sortie_result("v1")
        assert result.outcome is SortieOutcome.ABORTED, result.reason
        assert result.landed_and_disarmed
        assert _near_home(s.state)
        assert "command.abort.request" in c.actions("v1")


async def test_refused_arm_carries_the_vehicles_reason(controller: ControllerFactory) -> None:
    async with controller(extra_params={"SYS_FAILURE_EN": 1}) as c:
        s = c.sessions[0]
        plan = patrol(s)
        send_command(c.sim.gcs_local_port(0), 1, INJECT_FAILURE, FAILURE_UNIT_GPS, FAILURE_OFF)
        await s.wait_for(lambda st: st.gps_fix < 3, timeout_s=10)
        with pytest.raises(CommandFailed) as info:
            await s.arm()
        assert info.value.reason is not None
        assert "Arming denied" in info.value.reason
        assert "arm failed" in str(info.value)
        last = c.audit.entries[-1]
        assert last.action == "command.arm.result"
        assert last.payload["result"] == "failed"
        assert "Arming denied" in last.payload["reason"]
        # a sortie on this vehicle is refused before arming, naming the check
        result = await c.fleet.fly("v1", plan)
        assert result.outcome is SortieOutcome.REFUSED
        assert "gps: fix" in result.reason
        assert not s.state.armed


async def test_upload_comparison_catches_a_vehicle_that_holds_something_else(
    controller: ControllerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with controller() as c:
        s = c.sessions[0]
        mission = c.sim.vehicles[0].mission
        store = mission._store

        def corrupt(mission_type: Any, items: list[Any], crc: int) -> None:
            if items and int(mission_type) == 0:  # the vehicle keeps item 2 10 m higher
                items = list(items)
                items[2] = dataclasses.replace(items[2], alt_m=items[2].alt_m + 10)
            store(mission_type, items, crc)

        monkeypatch.setattr(mission, "_store", corrupt)
        plan = patrol(s)
        with pytest.raises(MissionMismatch) as info:
            await s.upload_plan(plan)
        assert "mission item 2: z planned 15" in str(info.value)
        assert "holds 25" in str(info.value)
        result = await c.fleet.fly("v1", plan)
        assert result.outcome is SortieOutcome.REFUSED
        assert "does not hold the plan" in result.reason
        assert not s.state.armed


async def test_link_loss_mid_mission_failsafe_rtl_then_recovery(
    controller: ControllerFactory,
) -> None:
    async with controller(extra_params={"NAV_DLL_ACT": 2, "COM_DL_LOSS_T": 5}) as c:
        s = c.sessions[0]
        vehicle = c.sim.vehicles[0]
        c.fleet.start_sortie("v1", patrol(s, north_m=80))
        await s.wait_for(lambda st: st.in_air and (st.mission_seq or 0) >= 2, timeout_s=30)
        vehicle.set_link_down(60.0)  # simulated seconds: > COM_DL_LOSS_T and our 3 s
        await s.wait_for(lambda st: st.link is LinkState.LOST, timeout_s=10)
        result = await c.fleet.sortie_result("v1")
        assert result.outcome is SortieOutcome.LINK_LOST, result.reason
        assert result.landed_and_disarmed
        assert _near_home(s.state)
        text = " | ".join(result.events)
        assert "link lost in AUTO.MISSION" in text
        assert "link recovered" in text
        assert "failsafe during link loss: vehicle" in text
        assert "failsafe took over" in result.reason
        kinds = [e.kind for e in s.link_events]
        assert kinds[-2:] == ["lost", "recovered"]


async def test_battery_failsafe_closes_the_sortie_as_failsafe(
    controller: ControllerFactory,
) -> None:
    async with controller(speedup=FLY_SPEEDUP, extra_params={"SYS_FAILURE_EN": 1}) as c:
        s = c.sessions[0]
        c.fleet.start_sortie("v1", patrol(s, north_m=80))
        await s.wait_for(lambda st: st.in_air and (st.mission_seq or 0) >= 2, timeout_s=30)
        send_command(c.sim.gcs_local_port(0), 1, INJECT_FAILURE, FAILURE_UNIT_BATTERY, FAILURE_OFF)
        result = await c.fleet.sortie_result("v1")
        assert result.outcome is SortieOutcome.FAILSAFE, result.reason
        assert "failsafe" in result.reason
        assert result.landed_and_disarmed


async def test_ten_vehicles_fly_ten_sorties_at_once(controller: ControllerFactory) -> None:
    async with controller(count=10, speedup=FLY_SPEEDUP) as c:
        for i, s in enumerate(c.sessions):
            c.fleet.start_sortie(s.vehicle_id, patrol(s, name=f"patrol-{i + 1}"))
        results = await asyncio.gather(*(c.fleet.sortie_result(s.vehicle_id) for s in c.sessions))
        assert [r.outcome for r in results] == [SortieOutcome.COMPLETED] * 10, [
            r.reason for r in results
        ]
        assert len({r.tlog_path for r in results}) == 10
        assert {s.system_id for s in c.sessions} == set(range(1, 11))
        assert all(r.landed_and_disarmed for r in results)
