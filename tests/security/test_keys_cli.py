"""`drone-ops keys rotate` end to end, as a supervisor runs it against a signing vehicle.

The CLI runs as its own process against the simulator over UDP: the vehicle
takes the new key, the key file changes, a sortie then flies signed with the
new key, only fingerprints reach the audit chain (which verifies), and an
operator's rotation is refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from drone_ops.keys import KeyStore, fingerprint
from missions.formats import save_plan
from missions.generators import route
from missions.plan import GeoPoint, Home

pytestmark = pytest.mark.slow
SPEEDUP = 25.0


async def _cli(cwd: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "HOME": str(cwd)}  # no users file or key directory of the machine's
    env.pop("DRONE_OPS_KEY_DIR", None)
    env.pop("DRONE_OPS_USERS", None)
    env.pop("DRONE_OPS_ROLE", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drone_ops.cli", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_keys_rotate_then_fly_signed_with_the_new_key(sim_fleet: Any, tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    old_key = keys.generate("v1")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    key_args = ["--key-dir", str(keys.directory), "--store", store]
    async with sim_fleet(count=1, speedup=SPEEDUP, signing_key=old_key) as sim:
        url = f"udpin://127.0.0.1:{sim.api_port(0)}"

        code, out = await _cli(
            tmp_path, "keys", "rotate", "v1", "--connect", url, *key_args, "--role", "operator"
        )
        assert code == 2, out
        assert len(out.strip().splitlines()) == 1, out
        assert "operator" in out
        assert keys.load("v1") == old_key  # refused before anything was sent or written

        code, out = await _cli(
            tmp_path, "keys", "rotate", "v1", "--connect", url, *key_args,
            "--actor", "sup:1", "--role", "supervisor",
        )  # fmt: skip
        assert code == 0, out
        new_key = keys.load("v1")
        assert new_key != old_key
        assert f"{fingerprint(old_key)} → {fingerprint(new_key)}" in out
        assert sim.fleet.signing[0].key == new_key  # the vehicle signs with it now

        home = Home(lat_deg=47.397743, lon_deg=8.545594, amsl_m=489.4)
        plan = route(
            [GeoPoint(lat_deg=47.3980, lon_deg=8.5456)], home=home, alt_m=15, name="signed"
        )
        save_plan(plan, str(tmp_path / "patrol.plan"))
        code, out = await _cli(
            tmp_path, "fly", str(tmp_path / "patrol.plan"), "--connect", url,
            "--vehicle-id", "v1", "--key-dir", str(keys.directory),
            "--speedup", f"{SPEEDUP:g}", "--role", "operator",
        )  # fmt: skip
        assert code == 0, out
        assert not sim.vehicles[0].armed

    code, out = await _cli(tmp_path, "audit", "verify", "--store", store)
    assert code == 0, out
    code, shown = await _cli(tmp_path, "audit", "show", "--store", store)
    assert code == 0, shown
    assert '"action": "key.rotated"' in shown
    assert '"action": "permission.refused"' in shown
    assert old_key.hex() not in shown
    assert new_key.hex() not in shown


async def test_a_rotated_simulator_keeps_its_new_key_on_disk(
    sim_fleet: Any, tmp_path: Path
) -> None:
    """`drone-ops sim --key-dir` writes a key SETUP_SIGNING gave a vehicle back to its file,
    as PX4 keeps it on the SD card: restarted, the vehicle signs with its controller's key."""
    from drone_ops.audit import MemoryAuditLog
    from drone_ops.cli.sim import keep_rotated_keys
    from drone_ops.keys import rotate_key
    from drone_ops.link.address import parse_address

    vehicle_keys = KeyStore(tmp_path / "vehicle")  # the simulator's own key directory
    controller_keys = KeyStore(tmp_path / "controller")
    old_key = vehicle_keys.generate("v1")
    controller_keys.save("v1", old_key)
    async with sim_fleet(count=1, speedup=SPEEDUP, signing_key=old_key) as sim:
        keep_rotated_keys(sim.fleet.signing, vehicle_keys.directory)
        address = parse_address(f"udpin://127.0.0.1:{sim.api_port(0)}")
        await rotate_key(controller_keys, "v1", address, audit=MemoryAuditLog(), actor="sup:1")
    new_key = controller_keys.load("v1")
    assert new_key != old_key
    assert vehicle_keys.load("v1") == new_key  # read_key_file also refuses a public file
    assert (vehicle_keys.path("v1").stat().st_mode & 0o777) == 0o600
