"""`drone-ops serve`: run the controller headless until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
from collections.abc import AsyncIterator

from drone_ops.cli._common import Subparsers, run_async
from drone_ops.errors import DroneOpsError
from drone_ops.service import (
    JsonLogFormatter,
    ServiceConfig,
    VehicleLink,
    load_service_config,
    serve_until,
)

__all__ = ["register"]


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run headless: fleet, scheduler, incident rules, telemetry bridge, metrics",
    )
    p.add_argument("--config", metavar="FILE", help="service TOML ([service], [[vehicles]])")
    p.add_argument("--store", metavar="URL", help="override the store URL")
    p.add_argument("--controller-id", metavar="ID", help="override this controller's name")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="0: any free port; -1: off")
    p.add_argument(
        "--vehicle",
        action="append",
        default=[],
        metavar="ID=URL",
        help="add a vehicle, e.g. v1=px4:0 (repeatable)",
    )
    p.add_argument("--mqtt", metavar="URL", help="telemetry bridge broker, e.g. mqtt://127.0.0.1")
    p.add_argument(
        "--sim", type=int, default=0, metavar="N", help="also start N simulated vehicles"
    )
    p.add_argument("--speedup", type=float, default=None, help="simulated time speedup")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    p.set_defaults(handler=_serve)


def _vehicle(text: str) -> VehicleLink:
    vid, sep, url = text.partition("=")
    if not sep or not vid or not url:
        raise DroneOpsError(f"--vehicle {text!r} is not ID=URL (e.g. v1=px4:0)")
    return VehicleLink(vehicle_id=vid, connect=url)


def _config(args: argparse.Namespace) -> ServiceConfig:
    config = load_service_config(args.config) if args.config else ServiceConfig()
    changes: dict[str, object] = {}
    if args.store:
        changes["store"] = args.store
    if args.controller_id:
        changes["controller_id"] = args.controller_id
    if args.metrics_port is not None:
        changes["metrics_port"] = args.metrics_port
    if args.mqtt:
        changes["mqtt"] = args.mqtt
    if args.vehicle:
        changes["vehicles"] = (*config.vehicles, *(_vehicle(v) for v in args.vehicle))
    if args.speedup is not None:
        changes["controller"] = config.controller.scaled(args.speedup)
    return dataclasses.replace(config, **changes) if changes else config  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def _simulated(count: int, speedup: float) -> AsyncIterator[tuple[VehicleLink, ...]]:
    if count <= 0:
        yield ()
        return
    from sitl import SimConfig, SimFleet, SitlError, free_vehicle_ports

    ports = free_vehicle_ports(count)
    try:
        sim = SimFleet(SimConfig(count=count, speedup=speedup, ports=ports))
    except SitlError as exc:
        raise DroneOpsError(str(exc)) from None
    async with sim:
        yield tuple(
            VehicleLink(vehicle_id=f"sim{i + 1}", connect=f"udpin://0.0.0.0:{p.api_remote}")
            for i, p in enumerate(ports)
        )


def _serve(args: argparse.Namespace) -> int:
    config = _config(args)  # bad input is reported before anything starts
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(args.log_level.upper())

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with _simulated(args.sim, config.controller.speedup) as extra:
            await serve_until(config, stop, extra_vehicles=extra)
        return 0

    return run_async(go)
