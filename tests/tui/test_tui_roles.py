"""The console enforces the operator's role through the controller API.

An auditor's console may watch but not command a vehicle or raise an incident;
each refusal changes nothing and is recorded as `permission.refused`."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_ops.cli.tui import console_stack
from drone_ops.config import ControllerConfig, TimeoutsConfig
from drone_ops.incidents import Incidents
from drone_ops.roles import PermissionDenied, Principal, Role
from tui.backend import CommandRequest, VehicleAction

SPEEDUP = 10.0
TOLERANT = ControllerConfig(timeouts=TimeoutsConfig(heartbeat_loss_s=10.0))


async def test_an_auditors_console_cannot_command_or_raise(tmp_path: Path) -> None:
    auditor = Principal(actor="aud:carol", role=Role.AUDITOR)
    async with console_stack(
        sim=1,
        store_url=f"sqlite:///{tmp_path}/drone-ops.db",
        var=tmp_path,
        speedup=SPEEDUP,
        config=TOLERANT,
        actor=auditor.audit_actor,
        principal=auditor,
    ) as stack:
        with pytest.raises(PermissionDenied, match="auditor"):
            await stack.backend.send(CommandRequest(vehicle_id="v1", action=VehicleAction.ARM))
        with pytest.raises(PermissionDenied, match="auditor"):
            await stack.backend.raise_incident("v1", "person on the roof")
        assert not stack.fleet.state("v1").armed
        assert await Incidents(stack.store).query() == []
        refused = [
            (e.actor, e.payload["action"])
            for e in await stack.store.audit.entries()
            if e.action == "permission.refused"
        ]
        assert ("aud:carol (auditor)", "command") in refused
        assert ("aud:carol (auditor)", "raise_incident") in refused
