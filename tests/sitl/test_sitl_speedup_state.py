"""At high speedup, changes of state reach the client although streams are paced
in wall time: a 1 Hz stream at 50x is one message per 50 vehicle seconds, long
enough to miss a whole short patrol. The simulator announces a changed landed
state at once (as it does a changed mode or arming state with a HEARTBEAT)."""

from __future__ import annotations

from typing import Any

from sitl_helpers import MavClient, wait_text

MAV_RESULT_ACCEPTED = 0
SET_MESSAGE_INTERVAL = 511
EXTENDED_SYS_STATE = 245
ON_GROUND = 1


async def test_landed_state_changes_are_announced_with_the_stream_off(sim_fleet: Any) -> None:
    async with sim_fleet(count=1, speedup=50) as fleet:
        fleet.builtin_vehicles("the announcement is the simulator's own speedup aid")
        with MavClient(fleet.gcs_port(0)) as gcs:
            await gcs.wait_heard()
            ack = await gcs.command(SET_MESSAGE_INTERVAL, EXTENDED_SYS_STATE, -1)  # stream off
            assert ack.result == MAV_RESULT_ACCEPTED
            gcs.drain()
            assert (await gcs.command(22, 0, 0, 0, 0, 0, 0, 5.0)).result == MAV_RESULT_ACCEPTED
            assert (await gcs.command(400, 1)).result == MAV_RESULT_ACCEPTED
            await wait_text(gcs, "Takeoff detected")
            ext = await gcs.recv_type("EXTENDED_SYS_STATE", timeout_s=5)
            assert ext.landed_state != ON_GROUND  # TAKEOFF, then IN_AIR
            assert (await gcs.command(21)).result == MAV_RESULT_ACCEPTED  # land
            await gcs.recv_until(
                lambda m: m.get_type() == "EXTENDED_SYS_STATE" and m.landed_state == ON_GROUND,
                timeout_s=10,
            )
