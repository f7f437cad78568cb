"""Dispatch latency: request → take-off command, against simulated vehicles.

Runs the built-in simulator in-process (3 vehicles, real UDP, MAVSDK) and
dispatches several times. For each dispatch it prints the controller (wall)
time from the request to the accepted take-off command (arm + mission start),
to airborne and to arrival. Same-run baseline: uploading the same plan alone
(the largest single step), so the ratio shows what the rest of dispatch costs.

Goal: request → take-off command under 2 s of controller time.

    .venv/bin/python bench/dispatch.py [--runs N] [--speedup K]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import time
from pathlib import Path

from drone_ops.config import ControllerConfig
from drone_ops.dispatch import DispatchRequest, dispatch, dispatch_plan
from drone_ops.fleet import Fleet
from drone_ops.incidents import Incidents
from drone_ops.store import open_store
from missions.plan import Geofence
from sitl import SimConfig, SimFleet, free_vehicle_ports


def east(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat, lon + metres / (111_195.0 * math.cos(math.radians(lat)))


async def main(runs: int, speedup: float) -> None:
    ports = free_vehicle_ports(3)
    cfg = SimConfig(count=3, speedup=speedup, ports=ports, home_spacing_m=200.0)
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            SimFleet(cfg),
            open_store(f"sqlite:///{Path(tmp) / 'bench.db'}") as store,
            Fleet(
                audit=store.audit, recorder=store, config=ControllerConfig().scaled(speedup)
            ) as fleet,
        ):
            for i, p in enumerate(ports):
                await fleet.add_vehicle(f"v{i + 1}", f"udpin://0.0.0.0:{p.api_remote}")
            for vid in fleet.vehicles():
                await fleet.session(vid).wait_for(
                    lambda s: s.home is not None and s.health_ok is True, timeout_s=30
                )
            home = fleet.state("v1").home
            assert home is not None
            # baseline: the same kind of plan uploaded (and verified) on its own
            lat, lon = east(home.lat_deg, home.lon_deg, 60)
            req = DispatchRequest(lat_deg=lat, lon_deg=lon, alt_m=15, hold_s=0, reason="bench")
            base: list[float] = []
            for vid in fleet.vehicles():
                plan = dispatch_plan(fleet.state(vid), req, fence=Geofence())
                t = time.monotonic()
                await fleet.session(vid).upload_plan(plan, actor="bench")
                base.append(time.monotonic() - t)
            incidents = Incidents(store)
            cmd: list[float] = []
            airborne: list[float] = []
            arrive: list[float] = []
            for n in range(runs):
                nearest = f"v{n % 3 + 1}"  # the vehicle docked nearest this run's point
                if fleet.sortie(nearest) is not None:
                    await fleet.sortie_result(nearest)
                target = east(home.lat_deg, home.lon_deg, 60 + 200 * (n % 3))
                r = await dispatch(
                    fleet,
                    DispatchRequest(
                        lat_deg=target[0], lon_deg=target[1], alt_m=15, hold_s=0, reason="bench"
                    ),
                    incidents=incidents,
                    actor="bench",
                )
                cmd.append(r.takeoff_command_s)
                airborne.append(r.airborne_s or math.nan)
                arrive.append(r.arrival_s or math.nan)
                print(
                    f"run {n + 1}: {r.choice.vehicle_id} take-off command "
                    f"{r.takeoff_command_s:.3f} s, airborne {r.airborne_s:.3f} s, "
                    f"over the point {r.arrival_s:.3f} s"
                )
            for vid in fleet.vehicles():
                if fleet.sortie(vid) is not None:
                    await fleet.sortie_result(vid)
    med = statistics.median(cmd)
    b = statistics.median(base)
    print()
    print(f"simulator speedup {speedup:g}x, {runs} dispatches over 3 vehicles")
    print(f"request → take-off command: median {med:.3f} s, max {max(cmd):.3f} s (goal < 2 s)")
    print(f"request → airborne: median {statistics.median(airborne):.3f} s controller time")
    print(f"request → over the point: median {statistics.median(arrive):.3f} s controller time")
    print(f"baseline (plan upload + verify alone): median {b:.3f} s")
    print(f"ratio take-off command / baseline upload: {med / b:.2f}")
    print("goal met" if max(cmd) < 2.0 else "goal NOT met")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--speedup", type=float, default=10.0)
    a = ap.parse_args()
    asyncio.run(main(a.runs, a.speedup))
