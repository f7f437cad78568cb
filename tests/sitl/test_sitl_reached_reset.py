"""A new plan forgets the old plan's MISSION_ITEM_REACHED re-sends.

PX4 repeats MISSION_ITEM_REACHED at 1 Hz for a while after an item is
reached. When a new mission is uploaded in that window, a re-send of the old
plan's last item must not appear as progress in the new one (the controller
would take it for the new mission's item)."""

from __future__ import annotations

from typing import Any

from sitl_helpers import HOME, LOITER, MavClient, offset, upload_mission, wait_mode, waypoint


async def test_no_stale_item_reached_after_a_new_upload(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=20) as fleet:
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            gcs.heartbeat()
            north = offset(HOME[0], HOME[1], 15.0, 0.0)
            first = [waypoint(0, HOME[0], HOME[1], 5.0, command=22), waypoint(1, *north, 5.0)]
            assert await upload_mission(gcs, first) == 0
            assert (await gcs.command(300, 0, 0)).result == 0
            await gcs.recv_type("MISSION_ITEM_REACHED", 60, seq=1)
            await wait_mode(gcs, LOITER, 30)  # "Mission finished, loitering"

            east = offset(HOME[0], HOME[1], 0.0, 15.0)
            second = [waypoint(0, *east, 5.0), waypoint(1, *north, 5.0)]
            assert await upload_mission(gcs, second) == 0
            gcs.drain()
            start = len(gcs.received)
            for _ in range(3):  # re-sends ride on the 1 Hz MISSION_CURRENT stream
                await gcs.recv_type("MISSION_CURRENT", 10)
            stale = [m for m in gcs.received[start:] if m.get_type() == "MISSION_ITEM_REACHED"]
            assert stale == []
