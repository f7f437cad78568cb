"""MAVSDK against the simulator over real UDP: what a patrol needs, end to end.

Written against PX4's behaviour only (no simulator internals), so it also runs
with `--sitl px4`."""

from __future__ import annotations

from typing import Any

from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.mission import MissionAsync, MissionItem, MissionPlan
from mavsdk.asyncio.plugins.param import ParamAsync
from mavsdk.asyncio.plugins.telemetry import LandedState, TelemetryAsync
from sitl_helpers import HOME, distance_m, first_match, mavsdk_autopilot, offset


def square(side_m: float, alt_m: float) -> list[MissionItem]:
    lat0, lon0, _ = HOME
    items = []
    for north, east in [(side_m, 0.0), (side_m, side_m), (0.0, side_m), (0.0, 0.0)]:
        lat, lon = offset(lat0, lon0, north, east)
        items.append(
            MissionItem(
                latitude_deg=lat,
                longitude_deg=lon,
                relative_altitude_m=alt_m,
                speed_m_s=5.0,
                is_fly_through=True,
                acceptance_radius_m=2.0,
            )
        )
    return items


def healthy(h: Any) -> bool:
    return bool(h.is_global_position_ok and h.is_home_position_ok and h.is_armable)


async def test_discover_health_mission_rtl_land_disarm(sim_fleet: Any) -> None:
    async with (
        sim_fleet(count=1, speedup=20) as fleet,
        mavsdk_autopilot(fleet.api_url(0)) as system,
    ):
        telemetry = TelemetryAsync(system)
        action = ActionAsync(system)
        mission = MissionAsync(system)
        param = ParamAsync(system)
        assert await system.get_system_id() == fleet.system_id(0)
        await first_match(telemetry.subscribe_health(), healthy, 20, "health ok")
        home = await telemetry.home()
        assert distance_m(home.latitude_deg, home.longitude_deg, HOME[0], HOME[1]) < 50

        plan = square(30.0, 10.0)
        await mission.upload_mission(MissionPlan(plan))
        downloaded = await mission.download_mission()
        assert len(downloaded.mission_items) == len(plan)
        for sent, got in zip(plan, downloaded.mission_items, strict=True):
            assert abs(got.latitude_deg - sent.latitude_deg) < 1e-6
            assert abs(got.longitude_deg - sent.longitude_deg) < 1e-6
            assert abs(got.relative_altitude_m - 10.0) < 0.01

        # MAVSDK switches PX4 to Hold before arming when it sees Mission mode,
        # so arm first, then start. COM_DISARM_PRFLT (10 s, simulated: 0.5 s
        # wall at 20x) would disarm a vehicle that waits on the ground between
        # the two calls on a busy machine: turn it off, as a test rig may.
        await param.set_param_float("COM_DISARM_PRFLT", -1.0)
        assert await param.get_param_float("COM_DISARM_PRFLT") == -1.0
        await action.arm()
        await mission.start_mission()

        seen: list[tuple[int, int]] = []

        def progress_done(p: Any) -> bool:
            seen.append((p.current, p.total))
            return bool(p.current == p.total)

        try:
            await first_match(
                mission.subscribe_mission_progress(), progress_done, 60, "mission end"
            )
        except AssertionError:
            if fleet.fleet is not None:  # say what the simulated vehicle did
                print("vehicle history:", *fleet.fleet.vehicles[0].history, sep="\n  ")
            raise
        alt = (await telemetry.position()).relative_altitude_m
        currents = [c for c, _ in seen]
        assert currents == sorted(currents), f"progress went backwards: {seen}"
        assert seen[-1] == (len(plan), len(plan))
        assert len(set(currents)) >= 3, f"progress skipped items: {seen}"
        assert 9.0 < alt < 11.0, f"loitering at {alt} m after the mission, not 10 m"
        assert await mission.is_mission_finished()

        await action.return_to_launch()
        await first_match(telemetry.subscribe_armed(), lambda armed: not armed, 90, "disarm")
        await first_match(
            telemetry.subscribe_landed_state(),
            lambda state: state == LandedState.ON_GROUND,
            5,
            "landed state ON_GROUND",
        )
        pos = await telemetry.position()
        assert (
            distance_m(pos.latitude_deg, pos.longitude_deg, home.latitude_deg, home.longitude_deg)
            < 2
        )
        assert abs(pos.relative_altitude_m) < 0.5
