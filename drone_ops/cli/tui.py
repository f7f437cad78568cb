"""`drone-ops tui`: the operator console on the embedded defaults.

With `--sim N` it starts N simulated vehicles in-process, the controller, an
SQLite store in ./var (telemetry, sorties, incidents, the audit chain) and the
incident rules, then opens the Textual console on them. `--connect URL` adds
real vehicles. With `--video` the simulated vehicles get cameras, recorded
into ./var/video: the console shows the selected vehicle's live preview, and
every incident (operator marks, rules, dispatches) gets a clip and a snapshot
as evidence. The simulator and the console are imported lazily here, the only
place allowed to compose them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from drone_ops.cli._common import Subparsers, add_role_arg, principal, run_async
from drone_ops.errors import DroneOpsError

# Heavy modules (the fleet pulls in MAVSDK, the bus aiomqtt) load inside the
# handler, so `drone-ops --help` and `drone-ops tui --help` stay instant.
if TYPE_CHECKING:
    from drone_ops.config import ControllerConfig
    from drone_ops.fleet import Fleet
    from drone_ops.incidents.video import VideoEvidenceCapture
    from drone_ops.roles import Principal
    from drone_ops.store import Store
    from missions.plan import Home, PatrolPlan
    from sitl import SimFleet
    from tui.fleet_backend import FleetBackend
    from tui.planning import GenerateRequest
    from tui.screens.planner import PlanTools

__all__ = ["ConsoleStack", "console_stack", "plan_tools", "register"]

MAX_SIM = 50


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tui",
        help="open the operator console (Textual TUI); --sim N for a simulated fleet",
        description=(
            "Open the operator console: fleet table, map, vehicle detail, planner and "
            "incidents. Every vehicle command asks for confirmation naming the vehicle "
            "and the action. With --sim N, N simulated vehicles, the controller and an "
            "SQLite store in --var are started first."
        ),
    )
    p.add_argument("--sim", type=int, default=0, metavar="N", help="start N simulated vehicles")
    p.add_argument(
        "--connect",
        action="append",
        default=[],
        metavar="URL",
        help="add a real vehicle (udpin://HOST:PORT, serial:///dev/ttyX:BAUD, px4:I); repeatable",
    )
    p.add_argument(
        "--store",
        metavar="URL",
        help="incident store: sqlite:///FILE or postgresql://… (default: SQLite in --var)",
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="controller TOML config")
    p.add_argument("--plan", type=Path, metavar="FILE", help="open this plan at start")
    p.add_argument(
        "--speedup",
        type=float,
        default=1.0,
        metavar="K",
        help="simulated vehicles run K times real time (1..100, default 1)",
    )
    p.add_argument(
        "--video",
        action="store_true",
        help="simulated cameras (with --sim): live preview of the selected vehicle, and "
        "clip + snapshot evidence for every incident, recorded into VAR/video",
    )
    p.add_argument("--var", type=Path, default=Path("var"), help="data directory (./var)")
    p.add_argument(
        "--actor", default=None, help="who the audit chain records (default operator:$USER)"
    )
    add_role_arg(p)
    p.set_defaults(handler=_tui)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleStack:
    """Everything the console runs on, started and stopped together."""

    fleet: Fleet
    store: Store
    backend: FleetBackend
    vehicle_ids: tuple[str, ...]


@asynccontextmanager
async def console_stack(
    *,
    sim: int = 0,
    connect: Sequence[str] = (),
    store_url: str,
    var: Path,
    config: ControllerConfig | None = None,
    speedup: float = 1.0,
    actor: str = "operator",
    incident_refresh_s: float = 2.0,
    video: bool = False,
    video_pre_s: float = 10.0,
    video_post_s: float = 10.0,
    principal: Principal | None = None,
) -> AsyncIterator[ConsoleStack]:
    """Start simulated vehicles (if any, with cameras when `video`), the store, the
    controller and the console backend.

    With a `principal`, everything the operator does through the console is
    checked against their role; the incident rules keep an unchecked book of
    their own (they act for the system, not for the operator)."""
    from drone_ops.cli.fly import simulated_fleet  # starts sitl lazily
    from drone_ops.config import ControllerConfig
    from drone_ops.fleet import Fleet
    from drone_ops.incidents import Incidents, RuleEngine, RuleRunner, default_rules
    from drone_ops.incidents.video import VideoIncidents
    from drone_ops.store import StoreWriter, open_store
    from telemetry.bus import Policy, TelemetryBus
    from tui.fleet_backend import FleetBackend

    cfg = (config or ControllerConfig()).scaled(speedup)
    await asyncio.to_thread(var.mkdir, parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(store_url))
        urls: list[str] = []
        recorder = None
        capture = None
        if sim:
            simulated = await stack.enter_async_context(simulated_fleet(sim, speedup, None))
            urls += simulated.urls
            if video:
                capture = await stack.enter_async_context(
                    _video_capture(simulated.sim, store, var, speedup, video_pre_s, video_post_s)
                )
                recorder = capture.recorder
        urls += list(connect)
        bus = await stack.enter_async_context(TelemetryBus(spool_dir=var / "spool"))
        fleet = await stack.enter_async_context(
            Fleet(
                audit=store.audit,
                recorder=store,
                config=cfg,
                sample_bus=bus,
                tlog_dir=var / "tlog",
                actor=actor,
                principal=principal,
            )
        )
        if capture is not None:
            book: Incidents = VideoIncidents(store, capture)
            operator_book: Incidents = VideoIncidents(store, capture, principal=principal)
        else:
            book = Incidents(store)
            operator_book = Incidents(store, principal=principal)
        async with (  # the sinks end (drained) before their subscriptions are released
            bus.subscribe("store", policy=Policy.LOSSLESS) as samples,
            bus.subscribe("rules", policy=Policy.LOSSLESS) as rule_samples,
            asyncio.TaskGroup() as tg,
        ):
            tg.create_task(StoreWriter(store).run_subscription(samples), name="tui-store-writer")
            rules = RuleRunner(RuleEngine(default_rules()), book)
            tg.create_task(rules.run_subscription(rule_samples), name="tui-incident-rules")
            ids: list[str] = []
            try:
                for i, url in enumerate(urls):
                    vid = f"v{i + 1}"
                    session = await fleet.add_vehicle(vid, url, system_id=i + 1 if sim else None)
                    await store.register_vehicle(vid, system_id=session.system_id)
                    ids.append(vid)
                backend = FleetBackend(
                    fleet,
                    incidents=operator_book,
                    actor=actor,
                    incident_refresh_s=incident_refresh_s,
                    video=recorder,
                )
                yield ConsoleStack(
                    fleet=fleet, store=store, backend=backend, vehicle_ids=tuple(ids)
                )
            finally:
                bus.close()  # the writer and the rules drain what is queued, then end


@asynccontextmanager
async def _video_capture(
    sim: SimFleet, store: Store, var: Path, speedup: float, pre_s: float, post_s: float
) -> AsyncIterator[VideoEvidenceCapture]:
    """Cameras on the simulated vehicles, recorded and cut on the simulator's clock."""
    from drone_ops.incidents.video import VideoEvidenceConfig, video_evidence
    from sitl.camera import CameraConfig, FleetCameras
    from telemetry.video import VideoSource

    # small frames: the console shares its CPU with the simulator and the controller
    cameras = CameraConfig(width_px=320, height_px=240, fps=10.0, gop_s=1.0)
    sources = {f"v{v.index + 1}": VideoSource(port=v.ports.video) for v in sim.vehicles}
    async with (
        FleetCameras(sim, config=cameras),
        video_evidence(
            store,
            sources=sources,
            video_dir=var / "video",
            config=VideoEvidenceConfig(pre_s=pre_s, post_s=post_s, actor="video"),
            camera_now_us=sim.clock.unix_usec,
            speedup=speedup,
        ) as capture,
    ):
        yield capture


def plan_tools() -> PlanTools:
    """The planner's file reader, generator and constraint check, from `missions`."""
    from missions.constraints import check_plan
    from missions.formats import load_plan
    from tui.planning import generate_plan
    from tui.screens.planner import PlanTools

    def load(path: Path) -> PatrolPlan:
        return load_plan(str(path))

    def check(plan: PatrolPlan) -> tuple[str, ...]:
        report = check_plan(plan)
        return tuple(str(v) for v in report.violations)

    def generate(request: GenerateRequest, home: Home | None) -> PatrolPlan:
        return generate_plan(request, home=home)

    return PlanTools(load=load, check=check, generate=generate)


def _tui(args: argparse.Namespace) -> int:
    if not 0 <= args.sim <= MAX_SIM:
        raise DroneOpsError(f"--sim must be 0..{MAX_SIM} vehicles, got {args.sim}")
    if not args.sim and not args.connect:
        raise DroneOpsError("no vehicles: give --sim N or --connect URL (repeatable)")
    if args.video and not args.sim:
        raise DroneOpsError("--video starts simulated cameras: give --sim N with it")
    if not 1.0 <= args.speedup <= 100.0:
        raise DroneOpsError(f"--speedup must be 1..100, got {args.speedup:g}")
    from drone_ops.config import ControllerConfig, load_config

    config = load_config(args.config) if args.config else ControllerConfig()
    args.var.mkdir(parents=True, exist_ok=True)
    tools = plan_tools()
    plan = tools.load(args.plan) if args.plan else None
    args.actor = args.actor or f"operator:{getpass.getuser()}"
    who = principal(args)  # a bad users file or role is refused before anything starts
    return run_async(lambda: _run(args, config, plan, who))


async def _run(
    args: argparse.Namespace, config: ControllerConfig, plan: PatrolPlan | None, who: Principal
) -> int:
    from tui.app import ConsoleOptions, DroneOpsConsole

    # The console owns the terminal: controller logs go to a file, not over the screen.
    handler = logging.FileHandler(args.var / "tui.log")
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    store_url = args.store or f"sqlite:///{args.var}/drone-ops.db"
    actor = who.audit_actor
    try:
        async with console_stack(
            sim=args.sim,
            connect=args.connect,
            store_url=store_url,
            var=args.var,
            config=config,
            speedup=args.speedup,
            actor=actor,
            video=args.video,
            principal=who,
        ) as stack:
            title = f"drone-ops · {len(stack.vehicle_ids)} vehicles · {store_url}"
            app = DroneOpsConsole(
                stack.backend,
                plan=plan,
                plan_tools=plan_tools(),
                options=ConsoleOptions(title=title),
            )
            await app.run_async()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    return 0
