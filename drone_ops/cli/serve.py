"""`drone-ops serve`: run the controller headless until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from drone_ops.cli._common import Subparsers, run_async
from drone_ops.cli.keys import add_key_dir_arg
from drone_ops.errors import DroneOpsError

if TYPE_CHECKING:  # the service pulls in the store, the fleet and video: load it to run
    from drone_ops.service import ServiceConfig, VehicleLink
    from telemetry.video import VideoSource

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
        "--mqtt-ca-file", type=Path, metavar="FILE", help="the broker's CA certificate(s), PEM"
    )
    p.add_argument(
        "--mqtt-cert-file", type=Path, metavar="FILE", help="client certificate (mutual TLS)"
    )
    p.add_argument("--mqtt-key-file", type=Path, metavar="FILE", help="client private key")
    p.add_argument(
        "--mqtt-username",
        metavar="USER",
        help="broker user; the password is read from $DRONE_OPS_MQTT_PASSWORD, never an argument",
    )
    p.add_argument(
        "--sim", type=int, default=0, metavar="N", help="also start N simulated vehicles"
    )
    p.add_argument("--speedup", type=float, default=None, help="simulated time speedup")
    p.add_argument(
        "--video",
        action="store_true",
        help="record video evidence for incidents ([video] on); --sim vehicles get cameras",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    # a vehicle (and a --sim vehicle) with VEHICLE.key there has a signed link
    add_key_dir_arg(p)
    p.set_defaults(handler=_serve)


def _vehicle(text: str) -> VehicleLink:
    from drone_ops.service import VehicleLink

    vid, sep, url = text.partition("=")
    if not sep or not vid or not url:
        raise DroneOpsError(f"--vehicle {text!r} is not ID=URL (e.g. v1=px4:0)")
    return VehicleLink(vehicle_id=vid, connect=url)


def _config(args: argparse.Namespace) -> ServiceConfig:
    from drone_ops.service import MQTT_PASSWORD_ENV, ServiceConfig, load_service_config

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
    for key in ("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file", "mqtt_username"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    password = os.environ.get(MQTT_PASSWORD_ENV)
    if password:  # unset and empty alike mean "no password"
        changes["mqtt_password"] = password
    if args.vehicle:
        changes["vehicles"] = (*config.vehicles, *(_vehicle(v) for v in args.vehicle))
    if args.speedup is not None:
        changes["controller"] = config.controller.scaled(args.speedup)
    if args.video:
        changes["video"] = dataclasses.replace(config.video, enabled=True)
    return dataclasses.replace(config, **changes) if changes else config  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Simulated:
    """What `--sim N` adds to the service: its vehicles and, with `--video`, their cameras."""

    vehicles: tuple[VehicleLink, ...] = ()
    video: dict[str, VideoSource] = field(default_factory=dict)
    camera_now_us: Callable[[], int] | None = None


@contextlib.asynccontextmanager
async def _simulated(count: int, speedup: float, *, video: bool) -> AsyncIterator[_Simulated]:
    if count <= 0:
        yield _Simulated()
        return
    from drone_ops.keys import KeyStore
    from drone_ops.service import VehicleLink
    from sitl import SimConfig, SimFleet, SitlError, free_vehicle_ports
    from telemetry.video import VideoSource

    ports = free_vehicle_ports(count)
    try:
        keys = KeyStore()  # simulated vehicles sign with their key when they have one
        signing_keys = [keys.load_optional(f"sim{i + 1}") for i in range(count)]
        sim = SimFleet(
            SimConfig(count=count, speedup=speedup, ports=ports, signing_keys=signing_keys)
        )
    except SitlError as exc:
        raise DroneOpsError(str(exc)) from None
    async with sim, contextlib.AsyncExitStack() as stack:
        ids = [f"sim{i + 1}" for i in range(count)]
        extra = _Simulated(
            vehicles=tuple(
                VehicleLink(vehicle_id=vid, connect=f"udpin://0.0.0.0:{p.api_remote}")
                for vid, p in zip(ids, ports, strict=True)
            )
        )
        if video:
            from sitl.camera import CameraError, FleetCameras

            try:
                await stack.enter_async_context(FleetCameras(sim))
            except CameraError as exc:
                raise DroneOpsError(f"simulated camera: {exc}") from None
            extra = dataclasses.replace(
                extra,
                video={vid: VideoSource(port=p.video) for vid, p in zip(ids, ports, strict=True)},
                camera_now_us=sim.clock.unix_usec,
            )
        yield extra


def _serve(args: argparse.Namespace) -> int:
    from drone_ops.service import JsonLogFormatter, serve_until

    config = _config(args)  # bad input is reported before anything starts
    broker = config.broker()
    if broker is not None and broker.tls is not None:
        broker.tls.ssl_context()  # an unreadable CA file or key too, naming the file
    if args.key_dir is not None:  # the key store's documented override, read by the service
        os.environ["DRONE_OPS_KEY_DIR"] = str(args.key_dir)
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
        speedup = config.controller.speedup
        async with _simulated(args.sim, speedup, video=config.video.enabled) as sim:
            await serve_until(
                config,
                stop,
                extra_vehicles=sim.vehicles,
                extra_video=sim.video,
                camera_now_us=sim.camera_now_us,
                camera_speedup=speedup,
            )
        return 0

    return run_async(go)
