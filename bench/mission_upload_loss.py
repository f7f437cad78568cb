"""Mission upload and telemetry over a lossy link, through the controller.

For 0 %, 10 % and 30 % packet loss (the simulator drops that share of
datagrams in both directions), upload a 100-item mission with
`VehicleSession.upload_plan` (which also downloads it again and compares) a
few times and print the success rate and the time per upload; the 0 % row is
the baseline the others are compared with. Then count the `TelemetrySample`s
the controller publishes in a fixed number of vehicle-seconds at 10 % loss
against 0 % loss (samples are decimated to `link.sample_interval_s`, so a lost
position message costs a sample only if none arrives in the interval).

    .venv/bin/python bench/mission_upload_loss.py [--uploads 5] [--items 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from drone_ops.audit import MemoryAuditLog
from drone_ops.config import ControllerConfig
from drone_ops.fleet import Fleet
from drone_ops.session import VehicleSession
from missions.generators import route
from missions.plan import GeoPoint, Home, PatrolPlan
from sitl import SimConfig, SimFleet, free_vehicle_ports
from telemetry.bus import Bus, Policy
from telemetry.sample import TelemetrySample

SPEEDUP = 10.0


def plan_of(session: VehicleSession, items: int) -> PatrolPlan:
    """A zig-zag route near home whose mission has exactly `items` items."""
    home = session.state.home
    assert home is not None
    start = Home(lat_deg=home.lat_deg, lon_deg=home.lon_deg, amsl_m=home.amsl_m)
    points = [
        GeoPoint(lat_deg=home.lat_deg + 1e-5 * (k % 7), lon_deg=home.lon_deg + 1e-5 * k)
        for k in range(1, items + 1)
    ]
    for n in range(items, 0, -1):  # take-off and return items come on top of the points
        plan = route(points[:n], home=start, alt_m=20.0, name=f"bench-{items}")
        if len(plan.items) <= items:
            return plan
    raise AssertionError("cannot build the plan")


@asynccontextmanager
async def controller(
    loss_pct: float, samples: Bus[TelemetrySample] | None = None
) -> AsyncIterator[tuple[SimFleet, VehicleSession]]:
    cfg = SimConfig(count=1, speedup=SPEEDUP, ports=free_vehicle_ports(1), loss_pct=loss_pct)
    async with (
        SimFleet(cfg) as sim,
        Fleet(
            audit=MemoryAuditLog(),
            config=ControllerConfig().scaled(SPEEDUP),
            sample_bus=samples,
        ) as fleet,
    ):
        session = await fleet.add_vehicle("v1", f"udpin://127.0.0.1:{cfg.ports[0].api_remote}")  # type: ignore[index]
        await session.wait_for(lambda s: s.home is not None, timeout_s=60)
        yield sim, session


async def uploads(
    loss_pct: float, count: int, items: int
) -> tuple[int, list[float], list[str], float]:
    """Successes, their times, failures, and messages resent per upload."""
    ok = 0
    times: list[float] = []
    errors: list[str] = []
    async with controller(loss_pct) as (_sim, session):
        resent_before = session.mission_retries
        plan = plan_of(session, items)
        for _ in range(count):
            t0 = time.perf_counter()
            try:
                await session.upload_plan(plan)
            except Exception as exc:  # the bench reports every failure, whatever it is
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            ok += 1
            times.append(time.perf_counter() - t0)
        resent = (session.mission_retries - resent_before) / count
    return ok, times, errors, resent


async def samples_in(loss_pct: float, vehicle_s: float) -> tuple[int, float]:
    """Samples published in `vehicle_s` simulated seconds, and link loss measured."""
    bus: Bus[TelemetrySample] = Bus()
    async with (
        controller(loss_pct, samples=bus) as (sim, session),
        bus.subscribe("bench", policy=Policy.LOSSLESS, maxsize=100_000) as sub,
    ):
        start = sim.vehicles[0].now_s()
        count = 0
        while sim.vehicles[0].now_s() - start < vehicle_s:
            item: Any = await sub.get()
            count += item is not None
        return count, session.state.link_loss_pct or 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=5)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--telemetry-s", type=float, default=300.0, help="vehicle seconds")
    parser.add_argument("--only", choices=("upload", "telemetry"), default=None)
    args = parser.parse_args()
    if args.only != "telemetry":
        await upload_table(args)
    if args.only != "upload":
        await telemetry_table(args)


async def upload_table(args: argparse.Namespace) -> None:
    print(f"mission upload of {args.items} items (upload + download + compare), {SPEEDUP:g}x sim")
    print(
        f"{'loss':>6} {'success':>9} {'median s':>9} {'max s':>7} {'vs 0 %':>7} "
        f"{'resent/upload':>14}"
    )
    base: float | None = None
    for loss in (0.0, 10.0, 30.0):
        ok, times, errors, resent = await uploads(loss, args.uploads, args.items)
        med = statistics.median(times) if times else float("nan")
        base = med if base is None else base
        print(
            f"{loss:>5.0f}% {ok:>4}/{args.uploads:<4} {med:>9.2f} "
            f"{max(times, default=float('nan')):>7.2f} {med / base:>6.1f}x {resent:>14.1f}"
        )
        for e in errors:
            print(f"        failed: {e}")


async def telemetry_table(args: argparse.Namespace) -> None:
    print(f"telemetry samples in {args.telemetry_s:g} vehicle-seconds")
    n0, _ = await samples_in(0.0, args.telemetry_s)
    if n0 == 0:
        print("  no samples at 0 % loss: nothing to compare")
        return
    n10, measured = await samples_in(10.0, args.telemetry_s)
    print(f"  0 % loss: {n0} samples (baseline)")
    print(
        f" 10 % loss: {n10} samples = {100 * n10 / max(n0, 1):.1f} % of baseline "
        f"(controller measured {measured:.1f} % link loss)"
    )


if __name__ == "__main__":
    asyncio.run(main())
