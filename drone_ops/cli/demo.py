"""`drone-ops demo --headless`: the main job on embedded defaults.

Starts N simulated vehicles in-process, the controller, an SQLite store in
./var (audit chain, sorties, telemetry), generates a perimeter patrol near
each vehicle's home, flies them all at once with progress lines, writes the
tlogs to ./var/tlog/, and exits 0 when every sortie completed. Needs no
broker and no PostgreSQL.

With `--video` each vehicle also gets a simulated camera, recorded into
./var/video; while v1 flies an operator mark is raised on it, and at the end
the incident's clip and snapshot evidence are printed and the audit chain
(evidence hashes included) is verified.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from drone_ops.cli._common import Subparsers, run_async

if TYPE_CHECKING:  # the fleet, the store and video load when the demo runs
    from drone_ops.cli.fly import SimulatedFleet
    from drone_ops.incidents.video import VideoCapture, VideoEvidenceCapture
    from drone_ops.session import VehicleSession
    from drone_ops.store import Store
    from missions.plan import PatrolPlan
    from telemetry.bus import TelemetryBus

__all__ = ["demo_plan", "register"]

_AREA_M = 60.0  # side of each vehicle's patrol square
_GAP_M = 20.0  # between the home row and the squares, and between squares


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="fly a simulated fleet on patrols, recorded in ./var (no services needed)",
        description=(
            "Start N simulated vehicles and the controller with an SQLite store in --var, "
            "fly one perimeter patrol per vehicle and exit 0 when all sorties completed."
        ),
    )
    p.add_argument("--headless", action="store_true", help="text progress lines (no TUI)")
    p.add_argument("--count", type=int, default=3, metavar="N", help="vehicles (default 3)")
    p.add_argument(
        "--speedup", type=float, default=10.0, metavar="K", help="simulated time factor (10)"
    )
    p.add_argument("--var", type=Path, default=Path("var"), help="data directory (./var)")
    p.add_argument(
        "--video",
        action="store_true",
        help="simulated cameras recorded into VAR/video; one incident on v1 gets its clip "
        "and snapshot as evidence",
    )
    p.add_argument(
        "--video-pre",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds of footage before the incident (10)",
    )
    p.add_argument(
        "--video-post",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds of footage after the incident (10)",
    )
    p.set_defaults(handler=_demo)


def demo_plan(session: VehicleSession, index: int, count: int) -> PatrolPlan:
    """A perimeter loop around a square north of the home row, inside a fence."""
    import numpy as np
    from shapely.geometry import box

    from missions.generators import perimeter
    from missions.geo import LocalFrame
    from missions.plan import FencePolygon, Geofence, GeoPoint, Home, PatrolPlan

    home = session.state.home
    assert home is not None
    frame = LocalFrame(home.lat_deg, home.lon_deg)
    east0 = (index - (count - 1) / 2) * (_AREA_M + _GAP_M)
    square = box(east0, _GAP_M, east0 + _AREA_M, _GAP_M + _AREA_M)
    xy = np.asarray(square.exterior.coords, dtype=float)
    lats, lons = frame.to_latlon(xy[:, 0], xy[:, 1])
    area = box(min(lons), min(lats), max(lons), max(lats))
    plan = perimeter(
        area,
        home=Home(lat_deg=home.lat_deg, lon_deg=home.lon_deg, amsl_m=home.amsl_m),
        alt_m=25.0,
        margin_m=8.0,
        name=f"perimeter-{session.vehicle_id}",
    )
    pad = 30.0
    west, east = min(0.0, east0) - pad, max(0.0, east0 + _AREA_M) + pad
    south, north = -pad, _GAP_M + _AREA_M + pad
    f_lats, f_lons = frame.to_latlon(
        np.array([west, east, east, west]), np.array([south, south, north, north])
    )
    fence = Geofence(
        polygons=(
            FencePolygon(
                vertices=tuple(
                    GeoPoint(lat_deg=float(a), lon_deg=float(o))
                    for a, o in zip(f_lats, f_lons, strict=True)
                )
            ),
        )
    )
    return PatrolPlan(
        name=plan.name,
        kind=plan.kind,
        items=plan.items,
        fence=fence,
        rally=plan.rally,
        home=plan.home,
        params=plan.params,
    )


def _demo(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= 50:
        print("drone-ops demo: error: --count must be 1..50", file=sys.stderr)
        return 2
    if not 1.0 <= args.speedup <= 100.0:
        print("drone-ops demo: error: --speedup must be 1..100", file=sys.stderr)
        return 2
    if not (0 <= args.video_pre <= 60 and 0 < args.video_post <= 60):
        print("drone-ops demo: error: --video-pre 0..60 and --video-post 0..60 s", file=sys.stderr)
        return 2
    args.var.mkdir(parents=True, exist_ok=True)
    return run_async(lambda: _demo_async(args))


async def _demo_async(args: argparse.Namespace) -> int:
    from drone_ops.cli.fly import print_progress, simulated_fleet
    from drone_ops.config import ControllerConfig
    from drone_ops.fleet import Fleet
    from drone_ops.sortie import SortieOutcome
    from drone_ops.store import StoreWriter, open_store
    from telemetry.bus import Policy, TelemetryBus

    logging.getLogger("drone_ops").setLevel(logging.WARNING)
    var: Path = args.var
    url = f"sqlite:///{var}/drone-ops.db"
    started = time.monotonic()
    print(f"demo: {args.count} simulated vehicles at {args.speedup:g}x, store {url}", flush=True)
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(url))
        sim = await stack.enter_async_context(simulated_fleet(args.count, args.speedup, None))
        urls = sim.urls
        capture = await _start_video(stack, args, store, sim) if args.video else None
        video: VideoCapture | None = None
        bus = await stack.enter_async_context(TelemetryBus(spool_dir=var / "spool"))
        fleet = await stack.enter_async_context(
            Fleet(
                audit=store.audit,
                recorder=store,
                config=ControllerConfig().scaled(args.speedup),
                sample_bus=bus,
                tlog_dir=var / "tlog",
                actor="demo",
            )
        )
        async with (  # the writer's task ends (drained) before its subscription is released
            bus.subscribe("store", policy=Policy.LOSSLESS) as samples,
            asyncio.TaskGroup() as tg,
        ):
            writer = StoreWriter(store)
            tg.create_task(writer.run_subscription(samples), name="demo-store-writer")
            sessions = [
                await fleet.add_vehicle(f"v{i + 1}", u, system_id=i + 1) for i, u in enumerate(urls)
            ]
            for s in sessions:
                await s.wait_for(lambda st: st.home is not None, timeout_s=10)
                await store.register_vehicle(s.vehicle_id, system_id=s.system_id)
            stop = asyncio.Event()
            tg.create_task(print_progress(fleet, stop), name="demo-progress")
            for i, s in enumerate(sessions):
                plan = demo_plan(s, i, len(sessions))
                fleet.start_sortie(s.vehicle_id, plan)
            if capture is not None:
                video = await _mark_incident(capture, store, bus, sessions[0].vehicle_id)
            results = [await fleet.sortie_result(s.vehicle_id) for s in sessions]
            stop.set()
            bus.close()  # the writer drains what is queued, then ends
    failed = [r for r in results if r.outcome is not SortieOutcome.COMPLETED]
    for r in results:
        print(
            f"demo: {r.vehicle_id} sortie {r.sortie_id} {r.outcome.value}: {r.reason} "
            f"(tlog {r.tlog_path})",
            flush=True,
        )
    if video is not None and not await _report_video(video, url, args.var):
        return 1
    took = time.monotonic() - started
    print(
        f"demo: {len(results) - len(failed)}/{len(results)} sorties completed in {took:.0f} s; "
        f"{writer.stats.samples_written} telemetry samples stored",
        flush=True,
    )
    return 1 if failed else 0


async def _start_video(
    stack: AsyncExitStack, args: argparse.Namespace, store: Store, sim: SimulatedFleet
) -> VideoEvidenceCapture:
    """Cameras on the simulated vehicles, recorded and cut on the simulator's clock."""
    from drone_ops.incidents.video import VideoEvidenceConfig, video_evidence
    from sitl.camera import CameraConfig, FleetCameras
    from telemetry.video import VideoSource

    # small frames: the demo shares its CPU with the simulator and the controller
    cameras = CameraConfig(width_px=320, height_px=240, fps=10.0, gop_s=1.0)
    await stack.enter_async_context(FleetCameras(sim.sim, config=cameras))
    sources = {f"v{v.index + 1}": VideoSource(port=v.ports.video) for v in sim.sim.vehicles}
    capture = await stack.enter_async_context(
        video_evidence(
            store,
            sources=sources,
            video_dir=args.var / "video",
            config=VideoEvidenceConfig(
                pre_s=args.video_pre, post_s=args.video_post, actor="demo", sweep_every_s=None
            ),
            camera_now_us=sim.sim.clock.unix_usec,
            speedup=args.speedup,
        )
    )
    print(f"demo: recording {len(sources)} simulated cameras into {args.var / 'video'}", flush=True)
    return capture


async def _mark_incident(
    capture: VideoEvidenceCapture, store: Store, bus: TelemetryBus, vehicle_id: str
) -> VideoCapture:
    """An operator mark at the vehicle's first sample above 10 m; its footage is cut and
    filed in the background, this waits for the result."""
    from drone_ops.incidents import Severity
    from drone_ops.incidents.video import VideoIncidents
    from telemetry.bus import Policy

    async with asyncio.timeout(120), bus.subscribe("demo-mark", policy=Policy.LATEST) as sub:
        async for sample in sub:
            if sample.vehicle_id == vehicle_id and (sample.rel_alt_m or 0.0) > 10.0:
                break
    incident = await VideoIncidents(store, capture).mark(
        vehicle_id=vehicle_id,
        note="demo: person on the roof",
        actor="demo",
        at=sample,
        severity=Severity.WARNING,
    )
    print(f"demo: incident {incident.incident_id} marked on {vehicle_id}", flush=True)
    return await capture.wait(incident.incident_id)


async def _report_video(video: VideoCapture, url: str, var: Path) -> bool:
    from drone_ops.store import open_store
    from drone_ops.store.verify import verify_store

    if not video.ok:
        print(f"demo: incident {video.incident_id}: no video evidence: {video.error}", flush=True)
        return False
    async with open_store(url) as store:
        evidence_dir = store.config.resolved_evidence_dir()
        report = await verify_store(store)
    for record in (video.clip, video.snapshot):
        assert record is not None  # ok means both were filed
        print(
            f"demo: incident {video.incident_id} evidence {record.kind} "
            f"{Path(evidence_dir) / record.path} sha256 {record.sha256}",
            flush=True,
        )
    print(f"demo: audit verify: {report.summary()}", flush=True)
    return report.ok
