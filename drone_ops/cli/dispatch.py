"""`drone-ops dispatch LAT,LON`: send the best ready vehicle to a point, now."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

from drone_ops.cli._common import Subparsers, add_role_arg, principal, run_async
from drone_ops.errors import DroneOpsError

__all__ = ["register"]


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "dispatch",
        help="first response: fly the best ready vehicle to a point, hold, raise an incident",
    )
    p.add_argument("position", metavar="LAT,LON", help="where to go, e.g. 47.3990,8.5460")
    p.add_argument("--alt", type=float, default=40.0, metavar="M", help="above home (10..120)")
    p.add_argument("--hold", type=float, default=300.0, metavar="S", help="hold time there")
    p.add_argument("--reason", default="dispatch", metavar="TEXT", help="recorded on the incident")
    p.add_argument(
        "--vehicle", action="append", default=[], metavar="ID=URL", help="a vehicle (repeatable)"
    )
    p.add_argument("--sim", type=int, default=0, metavar="N", help="start N simulated vehicles")
    p.add_argument("--speedup", type=float, default=1.0, help="simulated time speedup")
    p.add_argument("--store", default=None, metavar="URL", help="store (default ./var SQLite)")
    p.add_argument("--actor", default="operator", help="who asks (audit)")
    add_role_arg(p)
    p.add_argument("--follow", action="store_true", help="wait until the sortie has ended")
    p.set_defaults(handler=_dispatch)


@contextlib.asynccontextmanager
async def _vehicles(args: argparse.Namespace) -> AsyncIterator[list[tuple[str, str]]]:
    links: list[tuple[str, str]] = []
    for text in args.vehicle:
        vid, sep, url = text.partition("=")
        if not sep or not vid or not url:
            raise DroneOpsError(f"--vehicle {text!r} is not ID=URL (e.g. v1=px4:0)")
        links.append((vid, url))
    if args.sim <= 0:
        if not links:
            raise DroneOpsError("no vehicles: give --vehicle ID=URL (or --sim N to simulate)")
        yield links
        return
    from sitl import SimConfig, SimFleet, SitlError, free_vehicle_ports

    ports = free_vehicle_ports(args.sim)
    try:
        sim = SimFleet(SimConfig(count=args.sim, speedup=args.speedup, ports=ports))
    except SitlError as exc:
        raise DroneOpsError(str(exc)) from None
    async with sim:
        yield links + [
            (f"sim{i + 1}", f"udpin://0.0.0.0:{p.api_remote}") for i, p in enumerate(ports)
        ]


def _dispatch(args: argparse.Namespace) -> int:
    from drone_ops.dispatch import DispatchRequest, dispatch, parse_lat_lon
    from drone_ops.roles import Action, authorize

    authorize(principal(args), Action.FLY)  # before anything starts; the fleet checks again
    lat, lon = parse_lat_lon(args.position)
    req = DispatchRequest(
        lat_deg=lat, lon_deg=lon, alt_m=args.alt, hold_s=args.hold, reason=args.reason
    )

    async def go() -> int:
        from drone_ops.config import ControllerConfig
        from drone_ops.fleet import Fleet
        from drone_ops.incidents import Incidents
        from drone_ops.store import DEFAULT_STORE_URL, open_store

        async with (
            _vehicles(args) as links,
            open_store(args.store or DEFAULT_STORE_URL) as store,
            Fleet(
                audit=store.audit,
                recorder=store,
                config=ControllerConfig().scaled(args.speedup),
                actor=args.actor,
                principal=principal(args),
            ) as fleet,
        ):
            for vid, url in links:
                await fleet.add_vehicle(vid, url)
            for vid in fleet.vehicles():  # fresh position, home and health before choosing
                await fleet.session(vid).wait_for(
                    lambda s: s.home is not None and s.health_ok is not None, timeout_s=30
                )
            report = await dispatch(fleet, req, incidents=Incidents(store), actor=args.actor)
            for line in report.lines():
                print(line)
            if args.follow:
                result = await fleet.sortie_result(report.choice.vehicle_id)
                print(f"sortie {result.sortie_id} ended: {result.outcome.value}: {result.reason}")
        return 0

    return run_async(go)
