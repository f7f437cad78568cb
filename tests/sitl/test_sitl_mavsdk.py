"""MAVSDK against the simulator over real UDP: what a patrol needs, end to end.

Written against PX4's behaviour only (no simulator internals), so it also runs
with `--sitl px4`."""

from __future__ import annotations

import asyncio

from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.mission import MissionAsync, MissionItem, MissionPlan
from mavsdk.asyncio.plugins.telemetry import LandedState, TelemetryAsync
from sitl_helpers import HOME, distance_m, mavsdk_autopilot, offset


async def wait_for(check, timeout_s: float, what: str, poll_s: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll a MAVSDK getter until `check()` returns a truthy value."""
    try:
        async with asyncio.timeout(timeout_s):
            while not (value := await check()):
                await asyncio.sleep(poll_s)  # MAVSDK getters have no change event
            return value
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def square(side_m: float, alt_m: float) -> list[MissionItem]:
    lat0, lon0, _ = HOME
    corners = [(side_m, 0.0), (side_m, side_m), (0.0, side_m), (0.0, 0.0)]
    return [
        MissionItem(
            latitude_deg=offset(lat0, lon0, n, e)[0],
            longitude_deg=offset(lat0, lon0, n, e)[1],
            relative_altitude_m=alt_m,
            speed_m_s=5.0,
            is_fly_through=True,
            acceptance_radius_m=2.0,
        )
        for n, e in corners
    ]


async def test_discover_health_mission_rtl_land_disarm(sim_fleet) -> None:  # type: ignore[no-untyped-def]
    async with sim_fleet(count=1, speedup=20) as fleet, mavsdk_autopilot(fleet.api_url(0)) as system:
        telemetry = TelemetryAsync(system)
        action = ActionAsync(system)
        mission = MissionAsync(system)
        assert await system.get_system_id() == fleet.system_id(0)

        async def healthy() -> bool:
            h = await telemetry.health()
            return bool(h.is_global_position_ok and h.is_home_position_ok and h.is_armable)

        await wait_for(healthy, 20, "health ok")
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

        # Mission mode first, then arm: PX4 takes off at once. (Arming first and
        # dawdling trips COM_DISARM_PRFLT, in simulated seconds, at 20x.)
        await mission.start_mission()
        await action.arm()

        seen: list[tuple[int, int]] = []
        max_alt = 0.0
        async with asyncio.timeout(60):
            while not await mission.is_mission_finished():
                progress = await mission.mission_progress()
                if not seen or seen[-1] != (progress.current, progress.total):
                    seen.append((progress.current, progress.total))
                max_alt = max(max_alt, (await telemetry.position()).relative_altitude_m)
                await asyncio.sleep(0.05)
        currents = [c for c, _ in seen]
        assert currents == sorted(currents), f"progress went backwards: {seen}"
        assert seen[-1][0] >= len(plan) - 1 and all(t == len(plan) for _, t in seen)
        assert 8.5 < max_alt < 11.5

        await action.return_to_launch()

        async def disarmed() -> bool:
            return not await telemetry.armed()

        await wait_for(disarmed, 90, "auto-disarm after RTL")
        assert await telemetry.landed_state() == LandedState.ON_GROUND
        pos = await telemetry.position()
        assert distance_m(pos.latitude_deg, pos.longitude_deg, home.latitude_deg, home.longitude_deg) < 2.0
        assert abs(pos.relative_altitude_m) < 0.5
