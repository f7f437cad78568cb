"""The simulator (the vehicle's autopilot) restarts under a running controller.

What must hold: the controller sees the link lost, then the vehicle again on
the same address with a fresh boot clock (counted as a reboot), without being
restarted itself; a sortie flown afterwards completes, lands and disarms, and
the audit chain verifies.
"""

from __future__ import annotations

import pytest

from drone_ops.audit import MemoryAuditLog
from drone_ops.config import ControllerConfig
from drone_ops.fleet import Fleet
from drone_ops.link.policy import LinkState
from drone_ops.sortie import SortieOutcome
from sitl import SimConfig, SimFleet, free_vehicle_ports
from tests.controller.conftest import patrol
from tests.reliability.test_lossy_link import assert_chain_verifies, assert_requests_have_results

pytestmark = pytest.mark.slow
SPEEDUP = 10.0


async def test_simulator_restart_is_a_reboot_and_flying_carries_on(sitl_kind: str) -> None:
    if sitl_kind != "builtin":
        pytest.skip("restarts the built-in simulator")
    cfg = SimConfig(count=1, speedup=SPEEDUP, ports=free_vehicle_ports(1))
    audit = MemoryAuditLog()
    async with Fleet(audit=audit, config=ControllerConfig().scaled(SPEEDUP)) as fleet:
        assert cfg.ports is not None
        url = f"udpin://127.0.0.1:{cfg.ports[0].api_remote}"
        async with SimFleet(cfg):
            s = await fleet.add_vehicle("v1", url)
            await s.wait_for(
                lambda st: st.home is not None and st.health_ok is not None, timeout_s=10
            )
            reboots_before = s.state.reboots
        await s.wait_for(lambda st: st.link is LinkState.LOST, timeout_s=30)
        async with SimFleet(cfg):
            await s.wait_for(
                lambda st: st.link is LinkState.CONNECTED and st.home is not None, timeout_s=30
            )
            await s.wait_for(lambda st: st.reboots > reboots_before, timeout_s=30)
            result = await fleet.fly("v1", patrol(s))
            assert result.outcome is SortieOutcome.COMPLETED, result.reason
            assert result.landed_and_disarmed
    assert_requests_have_results(audit)
    assert_chain_verifies(audit)
