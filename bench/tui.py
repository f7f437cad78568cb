"""Console cost with a large fleet streaming: update cost, frame rate, key latency, CPU.

    .venv/bin/python bench/tui.py [--vehicles 50] [--rate-hz 10] [--seconds 10] [--sim N]

By default the feed is synthetic: N vehicles flying circles, each publishing a
new state `--rate-hz` times a second — the rate at which the controller hands
`VehicleState` to subscribers (`LinkConfig.state_interval_s` = 0.1 s), i.e.
what 50 vehicles at PX4's default telemetry rates look like to the console.
`--rate-hz 40` is the raw PX4 GCS message rate (every message a new state) as a
stress case. `--sim N` instead runs the real stack (`drone-ops tui --sim N`:
simulator, controller, store) in the same process, at real time.

The app runs headless (Textual's `run_test`): it composes every frame exactly
as on a terminal but writes no bytes to one. Figures are printed together with
a baseline measured in the same run: the same console with the feed idle.
"""

# ruff: noqa: E402 - imports follow the sys.path fix below

from __future__ import annotations

import os
import sys

# This file is named like the `tui` package; keep its folder off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse
import asyncio
import math
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from drone_ops.errors import DroneOpsError
from tui.app import DroneOpsConsole
from tui.backend import CommandRequest, DispatchProposal, IncidentAction
from tui.model import FleetModel, IncidentView, PreviewImage, Update, VehicleView
from tui.widgets.fleet_map import FleetMap
from tui.widgets.fleet_table import FleetTable
from tui.widgets.vehicle_detail import VehicleDetail
from tui.widgets.video_preview import VideoPreview

HOME_LAT, HOME_LON = 47.397742, 8.545594


def synthetic_state(i: int, t_s: float) -> VehicleView:
    """Vehicle i flying a 100 m circle around its own centre, one lap a minute."""
    row, col = divmod(i, 10)
    c_lat = HOME_LAT + row * 250 / 110_540
    c_lon = HOME_LON + col * 250 / (111_320 * math.cos(math.radians(HOME_LAT)))
    a = 2 * math.pi * (t_s / 60 + i / 7)
    return VehicleView(
        vehicle_id=f"v{i + 1}",
        mode="AUTO.MISSION",
        armed=True,
        landed_state="IN_AIR",
        lat_deg=c_lat + 100 * math.sin(a) / 110_540,
        lon_deg=c_lon + 100 * math.cos(a) / (111_320 * math.cos(math.radians(HOME_LAT))),
        rel_alt_m=30 + 2 * math.sin(a * 3),
        ground_speed_m_s=10.5,
        heading_deg=(90 - math.degrees(a) + 180) % 360,
        battery_pct=max(5.0, 95 - t_s / 10 - i % 20),
        battery_min_left=18.0,
        gps_fix=3,
        satellites=14,
        link_rate_hz=40.0,
        link_loss_pct=0.0,
        mission_seq=int(t_s / 5) % 12,
        mission_total=12,
        sortie="flying",
    )


class SyntheticBackend:
    """A recorded-style feed: states at a fixed rate, paced by the wall clock."""

    def __init__(self, vehicles: int, rate_hz: float, video_fps: float = 0.0) -> None:
        self.vehicles = vehicles
        self.rate_hz = rate_hz
        self.video_fps = video_fps
        self.video_on = asyncio.Event()
        self.running = asyncio.Event()
        self.sent = 0
        self.started = time.monotonic()

    async def updates(self) -> AsyncIterator[Update]:
        for i in range(self.vehicles):
            yield synthetic_state(i, 0.0)
        tick_s = 0.02
        due = 0.0
        while True:
            await self.running.wait()
            await asyncio.sleep(tick_s)
            due += self.vehicles * self.rate_hz * tick_s
            t = time.monotonic() - self.started
            while due >= 1.0:
                yield synthetic_state(self.sent % self.vehicles, t)
                self.sent += 1
                due -= 1.0

    async def send(self, request: CommandRequest) -> None:
        raise DroneOpsError("bench: commands are not sent")

    async def raise_incident(self, vehicle_id: str, note: str) -> IncidentView:
        raise DroneOpsError("bench: no incidents")

    async def update_incident(
        self, incident_id: str, action: IncidentAction, note: str = ""
    ) -> IncidentView:
        raise DroneOpsError("bench: no incidents")

    async def propose_dispatch(self, lat_deg: float, lon_deg: float) -> DispatchProposal:
        raise DroneOpsError("bench: no dispatch")

    async def dispatch(self, proposal: DispatchProposal) -> str:
        raise DroneOpsError("bench: no dispatch")

    async def video_frames(self, vehicle_id: str) -> AsyncIterator[PreviewImage]:
        """Synthetic 160×120 pictures at `video_fps` once `video_on` is set (0: no camera)."""
        if not self.video_fps:
            return
        rng = np.random.default_rng(0)
        while True:
            await self.video_on.wait()
            await asyncio.sleep(1.0 / self.video_fps)
            rgb = rng.integers(0, 255, size=(120, 160, 3), dtype=np.uint8)
            yield PreviewImage(vehicle_id=vehicle_id, time_unix_us=time.time_ns() // 1000, rgb=rgb)


def model_apply_cost_us(vehicles: int, n: int = 50_000) -> float:
    model = FleetModel()
    states = [synthetic_state(i % vehicles, i * 0.02) for i in range(n)]
    t0 = time.perf_counter()
    model.apply_all(states)
    return (time.perf_counter() - t0) / n * 1e6


class RenderClock:
    """Counts frames and notes when a widget was last drawn (wraps `render`)."""

    def __init__(self) -> None:
        self.renders: dict[str, int] = {}
        self.shown: list[tuple[float, str | None]] = []  # (time, vehicle) per detail render
        self.drawn = asyncio.Event()

    def wrap(self, cls: Any) -> None:
        original = cls.render
        name = cls.__name__

        def render(widget: Any) -> Any:
            self.renders[name] = self.renders.get(name, 0) + 1
            if isinstance(widget, VehicleDetail):
                vehicle = widget.vehicle.vehicle_id if widget.vehicle else None
                self.shown.append((time.perf_counter(), vehicle))
                self.drawn.set()
            return original(widget)

        cls.render = render


async def key_latencies_ms(
    app: DroneOpsConsole, pilot: Any, clock: RenderClock, rounds: int
) -> list[float]:
    """Press ↓ (next vehicle) and time it until the detail panel is first drawn for it."""
    out: list[float] = []
    table = app.screen.query_one(FleetTable)
    for _ in range(rounds):
        at_end = table.cursor_row >= table.row_count - 1
        target = table._order[0 if at_end else table.cursor_row + 1]
        t0 = time.perf_counter()
        await pilot.press("home" if at_end else "down")
        while not any(t > t0 and v == target for t, v in clock.shown):
            clock.drawn.clear()
            await clock.drawn.wait()
        first = min(t for t, v in clock.shown if t > t0 and v == target)
        out.append((first - t0) * 1e3)
        clock.shown.clear()
        await asyncio.sleep(0.05)
    return out


async def measure(
    app: DroneOpsConsole, pilot: Any, clock: RenderClock, seconds: float
) -> dict[str, float]:
    frames0 = clock.renders.get("FleetMap", 0)
    applied0 = app.model.updates_applied
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    frames = clock.renders.get("FleetMap", 0) - frames0
    keys = await key_latencies_ms(app, pilot, clock, 20)
    return {
        "cpu_pct": 100 * cpu / wall,
        "map_fps": frames / wall,
        "updates_per_s": (app.model.updates_applied - applied0) / wall,
        "key_p50_ms": statistics.median(keys),
        "key_p90_ms": statistics.quantiles(keys, n=10)[-1],
        "key_max_ms": max(keys),
    }


def report(label: str, m: dict[str, float], base: dict[str, float] | None) -> None:
    line = (
        f"{label:<28} updates {m['updates_per_s']:7.0f}/s  map {m['map_fps']:4.1f} fps  "
        f"CPU {m['cpu_pct']:5.1f} %  key→screen p50 {m['key_p50_ms']:5.1f} ms "
        f"p90 {m['key_p90_ms']:5.1f} ms max {m['key_max_ms']:5.1f} ms"
    )
    if base is not None:
        line += (
            f"  (CPU ×{m['cpu_pct'] / max(base['cpu_pct'], 0.1):.1f}, "
            f"key p50 ×{m['key_p50_ms'] / max(base['key_p50_ms'], 0.1):.1f} vs idle)"
        )
    print(line, flush=True)


async def run_synthetic(args: argparse.Namespace) -> None:
    clock = RenderClock()
    for cls in (FleetMap, VehicleDetail):
        clock.wrap(cls)
    backend = SyntheticBackend(args.vehicles, args.rate_hz, video_fps=args.video_fps)
    app = DroneOpsConsole(backend)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_for(lambda: app.model.updates_applied >= args.vehicles, 30)
        await pilot.pause()
        base = await measure(app, pilot, clock, args.seconds)
        report(f"idle, {args.vehicles} vehicles shown", base, None)
        backend.running.set()
        loaded = await measure(app, pilot, clock, args.seconds)
        report(f"{args.vehicles} vehicles × {args.rate_hz:g} Hz", loaded, base)
        if args.video_fps:
            backend.video_on.set()
            video = await measure(app, pilot, clock, args.seconds)
            shown = app.screen.query_one(VideoPreview).frames_shown
            report(f"  + camera preview {args.video_fps:g} fps", video, base)
            print(f"  preview pictures drawn: {shown}", flush=True)


async def run_sim(args: argparse.Namespace) -> None:
    from drone_ops.cli.tui import console_stack

    clock = RenderClock()
    for cls in (FleetMap, VehicleDetail):
        clock.wrap(cls)
    var = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    async with console_stack(
        sim=args.sim, store_url=f"sqlite:///{var}/drone-ops.db", var=var, speedup=1.0
    ) as stack:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(args.seconds)
        stack_cpu = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        print(f"stack alone ({args.sim} simulated vehicles)  CPU {stack_cpu:5.1f} %", flush=True)
        app = DroneOpsConsole(stack.backend)
        async with app.run_test(size=(160, 48)) as pilot:
            await app.wait_for(lambda: len(app.model.vehicles) == args.sim, 60)
            m = await measure(app, pilot, clock, args.seconds)
            report(f"stack + console, {args.sim} sim", m, None)
            print(
                f"console share ≈ {m['cpu_pct'] - stack_cpu:5.1f} % CPU "
                f"(whole process ×{m['cpu_pct'] / max(stack_cpu, 0.1):.2f} vs stack alone)"
            )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vehicles", type=int, default=50)
    p.add_argument("--rate-hz", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--sim", type=int, default=0, metavar="N", help="real stack with N vehicles")
    p.add_argument(
        "--video-fps", type=float, default=4.0, help="synthetic camera preview rate (0: none)"
    )
    args = p.parse_args()
    print(f"FleetModel.apply: {model_apply_cost_us(args.vehicles):.2f} µs per state update")
    asyncio.run(run_sim(args) if args.sim else run_synthetic(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
