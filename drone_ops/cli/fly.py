"""`drone-ops fly PLAN` (one patrol, headless) and `drone-ops status` (one-shot fleet table)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from drone_ops.cli._common import Subparsers, add_role_arg, principal, run_async
from drone_ops.cli.keys import add_signing_args, signing_key_for
from drone_ops.errors import DroneOpsError

if TYPE_CHECKING:  # the fleet, MAVSDK and the simulator load when a command runs
    from drone_ops.config import ControllerConfig
    from drone_ops.fleet import Fleet
    from drone_ops.sortie import SortieProgress
    from drone_ops.state import VehicleState
    from missions.plan import PatrolPlan
    from sitl import SimFleet

__all__ = [
    "SimulatedFleet",
    "format_state_table",
    "register",
    "simulated_fleet",
    "simulated_vehicles",
]

_PROGRESS_EVERY_S = 1.0


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    fly = sub.add_parser(
        "fly",
        help="fly one patrol plan headless, with a progress display",
        description=(
            "Upload PLAN to one vehicle, check it was stored exactly, run the preflight "
            "checks, fly it and land. Exits 0 only when the sortie completed and the "
            "vehicle is landed and disarmed; otherwise 1 with the reason on one line."
        ),
    )
    fly.add_argument("plan", type=Path, metavar="PLAN", help=".plan, .waypoints or .geojson file")
    where = fly.add_mutually_exclusive_group()
    where.add_argument(
        "--connect",
        metavar="URL",
        help="vehicle connection: udpin://HOST:PORT, udpout://HOST:PORT, "
        "serial:///dev/ttyX:BAUD or px4:I (default: px4:0)",
    )
    where.add_argument(
        "--sim", action="store_true", help="start one simulated vehicle at the plan's home"
    )
    fly.add_argument(
        "--speedup",
        type=float,
        default=1.0,
        metavar="K",
        help="the vehicle's clock runs K times real time (simulators; default 1)",
    )
    fly.add_argument("--config", type=Path, metavar="FILE", help="controller TOML config")
    fly.add_argument("--vehicle-id", default="v1", help="name of the vehicle (default v1)")
    fly.add_argument(
        "--tlog-dir", type=Path, default=Path("var/tlog"), help="where the sortie's .tlog goes"
    )
    fly.add_argument("--actor", default="cli", help="who is flying, for the audit chain")
    add_role_arg(fly)
    add_signing_args(fly)  # a vehicle with a key in the key directory is flown signed
    fly.set_defaults(handler=_fly)

    status = sub.add_parser(
        "status",
        help="print a one-shot table of the vehicles' state",
        description="Connect to each vehicle, wait for its state and print one table.",
    )
    status.add_argument(
        "--connect",
        action="append",
        metavar="URL",
        help="a vehicle connection (repeat for several; default px4:0)",
    )
    status.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="wait this long per vehicle"
    )
    status.set_defaults(handler=_status)


def _config(args: argparse.Namespace) -> ControllerConfig:
    from drone_ops.config import ControllerConfig, load_config

    cfg = load_config(args.config) if args.config else ControllerConfig()
    if not (args.speedup > 0):
        raise SystemExit(f"drone-ops {args.command}: error: --speedup must be > 0")
    return cfg.scaled(args.speedup)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedFleet:
    """A running in-process simulator: the `SimFleet` (for cameras, its clock) and the
    controller URL of each vehicle, in order."""

    sim: SimFleet
    urls: list[str]


@asynccontextmanager
async def simulated_fleet(
    count: int, speedup: float, home: tuple[float, float, float] | None
) -> AsyncIterator[SimulatedFleet]:
    """Start `count` simulated vehicles in-process on free ports."""
    from sitl import DEFAULT_HOME, SimConfig, SimFleet, SitlError, free_vehicle_ports

    ports = free_vehicle_ports(count)
    try:
        cfg = SimConfig(count=count, speedup=speedup, ports=ports, home=home or DEFAULT_HOME)
        fleet = SimFleet(cfg)
        await fleet.start()
    except SitlError as exc:  # the simulator's errors are written for users too
        raise DroneOpsError(f"simulator: {exc}") from exc
    try:
        yield SimulatedFleet(sim=fleet, urls=[f"udpin://127.0.0.1:{p.api_remote}" for p in ports])
    finally:
        await fleet.stop()


@asynccontextmanager
async def simulated_vehicles(
    count: int, speedup: float, home: tuple[float, float, float] | None
) -> AsyncIterator[list[str]]:
    """Start `count` simulated vehicles in-process on free ports; yields their URLs."""
    async with simulated_fleet(count, speedup, home) as sim:
        yield sim.urls


def _plan_home(plan: PatrolPlan) -> tuple[float, float, float] | None:
    from missions.energy import plan_home

    home = plan_home(plan)
    return (
        (home.lat_deg, home.lon_deg, home.amsl_m)
        if plan.home
        else (home.lat_deg, home.lon_deg, 0.0)
    )


def _load_plan(path: Path) -> PatrolPlan:
    from missions.formats import load_plan

    return load_plan(str(path))


async def print_progress(fleet: Fleet, stop: asyncio.Event) -> None:
    """One line per vehicle when its phase or item changes, else at most once a second."""
    from drone_ops.sortie import SortiePhase

    last: dict[str, tuple[SortieProgress, float]] = {}
    async with fleet.subscribe_progress("cli") as sub:
        while True:
            p = sub.get_nowait()
            if p is None:
                if stop.is_set():
                    return  # everything queued before the stop is printed
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await stop.wait()
                continue
            prev = last.get(p.vehicle_id)
            now = time.monotonic()
            due = (
                prev is None
                or (prev[0].phase, prev[0].item) != (p.phase, p.item)
                or now - prev[1] >= _PROGRESS_EVERY_S
                or p.phase is SortiePhase.CLOSED
            )
            if due:
                print(p.line(), flush=True)
                last[p.vehicle_id] = (p, now)


def _fly(args: argparse.Namespace) -> int:
    from drone_ops.link.address import parse_address
    from drone_ops.roles import Action, authorize

    # The role is checked before anything starts (the fleet checks again when it flies).
    authorize(principal(args), Action.FLY)
    plan = _load_plan(args.plan)
    cfg = _config(args)
    address = args.connect or "px4:0"
    if not args.sim:
        parse_address(address)  # a bad string fails before anything starts
    return run_async(lambda: _fly_async(args, plan, cfg, address))


async def _fly_async(
    args: argparse.Namespace, plan: PatrolPlan, cfg: ControllerConfig, address: str
) -> int:
    from drone_ops.audit import MemoryAuditLog
    from drone_ops.fleet import Fleet
    from drone_ops.sortie import SortieOutcome

    logging.getLogger("drone_ops").setLevel(logging.WARNING)
    audit = MemoryAuditLog()
    async with contextlib.AsyncExitStack() as stack:
        if args.sim:
            urls = await stack.enter_async_context(
                simulated_vehicles(1, args.speedup, _plan_home(plan))
            )
            address = urls[0]
        fleet = await stack.enter_async_context(
            Fleet(
                audit=audit,
                config=cfg,
                tlog_dir=args.tlog_dir,
                actor=args.actor,
                principal=principal(args),
            )
        )
        print(f"fly: connecting to {address} …", flush=True)
        key = None if args.sim else signing_key_for(args, args.vehicle_id)
        session = await fleet.add_vehicle(args.vehicle_id, address, signing_key=key)
        await session.wait_for(lambda s: s.home is not None, timeout_s=cfg.timeouts.connect_s)
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(print_progress(fleet, stop), name="fly-progress")
            try:
                result = await fleet.fly(args.vehicle_id, plan, actor=args.actor)
            finally:
                stop.set()
    ok = result.outcome is SortieOutcome.COMPLETED and result.landed_and_disarmed
    tlog = f"; tlog {result.tlog_path}" if result.tlog_path else ""
    line = f"fly: sortie {result.outcome.value}: {result.reason}{tlog}"
    print(line, file=sys.stdout if ok else sys.stderr, flush=True)
    return 0 if ok else 1


def format_state_table(states: list[VehicleState]) -> str:
    """A plain-text table of vehicle states (the `status` output)."""
    head = ("VEHICLE", "SYSID", "LINK", "MODE", "ARMED", "LANDED", "BATT", "GPS", "SATS",
            "LAT", "LON", "ALT", "MSG/S", "LOSS")  # fmt: skip
    rows: list[tuple[str, ...]] = [head]
    for s in states:
        rows.append(
            (
                s.vehicle_id,
                "-" if s.system_id is None else str(s.system_id),
                s.link.value,
                s.mode.value,
                "yes" if s.armed else "no",
                s.landed.value,
                "-" if s.battery_pct is None else f"{s.battery_pct:.0f}%",
                s.gps_fix.name,
                "-" if s.satellites is None else str(s.satellites),
                "-" if s.lat_deg is None else f"{s.lat_deg:.6f}",
                "-" if s.lon_deg is None else f"{s.lon_deg:.6f}",
                "-" if s.rel_alt_m is None else f"{s.rel_alt_m:.1f}",
                "-" if s.link_rate_hz is None else f"{s.link_rate_hz:.0f}",
                "-" if s.link_loss_pct is None else f"{s.link_loss_pct:.1f}%",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _status(args: argparse.Namespace) -> int:
    from drone_ops.link.address import parse_address

    urls = args.connect or ["px4:0"]
    for url in urls:
        parse_address(url)
    return run_async(lambda: _status_async(urls, args.timeout))


async def _status_async(urls: list[str], timeout_s: float) -> int:
    from drone_ops.audit import MemoryAuditLog
    from drone_ops.commands import LinkDown
    from drone_ops.fleet import Fleet

    logging.getLogger("drone_ops").setLevel(logging.WARNING)
    async with Fleet(audit=MemoryAuditLog()) as fleet:
        missing = 0

        async def one(i: int, url: str) -> None:
            nonlocal missing
            vid = f"v{i + 1}"
            session = await fleet.add_vehicle(vid, url, wait=False)
            try:
                await session.wait_connected(timeout_s)
                # one full round of the slow streams: home, battery, health
                with contextlib.suppress(TimeoutError):
                    await session.wait_for(
                        lambda s: s.home is not None and s.battery_pct is not None,
                        timeout_s=min(timeout_s, 3.0),
                    )
            except LinkDown:
                missing += 1

        async with asyncio.TaskGroup() as tg:
            for i, url in enumerate(urls):
                tg.create_task(one(i, url), name=f"status-{i}")
        print(format_state_table([fleet.state(v) for v in fleet.vehicles()]))
        return 1 if missing else 0
