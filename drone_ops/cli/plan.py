"""`drone-ops plan ...`: generate, check and show patrol plans.

Generators read areas from GeoJSON or KML (roles: area, nofly, fence, home,
route, poi) and write the plan in the format named by `--out`'s extension
(.plan, .waypoints, .geojson, .kml). Every generated plan is checked at
once; violations are printed one per line and make the exit status 1.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from drone_ops.cli._common import Subparsers

if TYPE_CHECKING:  # the planner (shapely, pyproj) loads only when a plan command runs
    from shapely.geometry.base import BaseGeometry

    from missions.constraints import CheckReport, Limits
    from missions.formats import AreaSet
    from missions.generators import CoverageSpec
    from missions.plan import Geofence, Home, PatrolPlan

__all__ = ["register"]


# ------------------------------------------------------------------ argument types


def _latlon(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON[,ALT] in degrees") from None
    if len(values) not in (2, 3) or not (-90 <= values[0] <= 90 and -180 <= values[1] <= 180):
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON[,ALT] in degrees")
    return values


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction like 0.7 or 70%") from None
    if not (0.0 <= value < 1.0):
        raise argparse.ArgumentTypeError(f"{text} must be in 0..1 (or 0..100%)")
    return value


def _angle(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        return float(text) % 180.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 'auto' or degrees") from None


# ------------------------------------------------------------------ registration


def _common(p: argparse.ArgumentParser, alt: float) -> None:
    p.add_argument("input", metavar="INPUT", help="GeoJSON or KML file with the area/route/point")
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="plan file to write: .plan, .waypoints, .geojson or .kml",
    )
    p.add_argument(
        "--home",
        type=_latlon,
        metavar="LAT,LON[,AMSL]",
        help="planned home (default: the INPUT's Point with role home)",
    )
    p.add_argument(
        "--alt",
        type=_positive,
        default=alt,
        metavar="M",
        help=f"altitude above home in m (default {alt:g})",
    )
    p.add_argument(
        "--speed", type=_positive, metavar="M/S", help="flight speed (default: vehicle's)"
    )
    p.add_argument("--name", help="plan name (default: from --out)")
    p.add_argument("--fence", metavar="FILE", help="inclusion fence polygons (GeoJSON/KML)")
    p.add_argument(
        "--nofly",
        metavar="FILE",
        action="append",
        default=[],
        help="no-fly zone polygons (GeoJSON/KML); repeatable",
    )
    p.add_argument(
        "--sorties",
        action="store_true",
        help="if one battery is not enough, write sorties FILE-1, FILE-2, ...",
    )
    _limits_args(p)


def _limits_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ceiling",
        type=_positive,
        default=120.0,
        metavar="M",
        help="altitude ceiling above home (default 120)",
    )
    p.add_argument(
        "--floor", type=float, default=5.0, metavar="M", help="altitude floor (default 5)"
    )
    p.add_argument(
        "--max-distance",
        type=_positive,
        default=3000.0,
        metavar="M",
        help="maximum distance from home (default 3000)",
    )
    p.add_argument(
        "--fence-margin",
        type=float,
        default=5.0,
        metavar="M",
        help="waypoints keep this far inside inclusion fences (default 5)",
    )
    p.add_argument(
        "--capacity-wh",
        type=_positive,
        default=74.0,
        metavar="WH",
        help="usable battery energy (default 74, the simulated quad)",
    )
    p.add_argument(
        "--reserve",
        type=_fraction,
        default=0.2,
        metavar="FRACTION",
        help="battery reserve kept at landing (default 0.2)",
    )


def _coverage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hfov",
        type=_positive,
        default=70.0,
        metavar="DEG",
        help="camera horizontal field of view (default 70)",
    )
    p.add_argument(
        "--overlap",
        type=_fraction,
        default=0.7,
        metavar="FRACTION",
        help="side overlap between sweeps (default 0.7)",
    )
    p.add_argument(
        "--angle",
        type=_angle,
        default=None,
        metavar="auto|DEG",
        help="sweep direction, degrees from east (default auto: shortest path)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=5.0,
        metavar="M",
        help="clearance from holes, no-fly zones and the fence (default 5)",
    )
    p.add_argument(
        "--overfly",
        type=float,
        default=None,
        metavar="M",
        help="how far past the area edge to turn (default half the footprint)",
    )


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("plan", help="generate, check and show patrol plans")
    gsub = group.add_subparsers(dest="plan_command", metavar="ACTION", required=True)

    p = gsub.add_parser("route", help="fly the INPUT's line (or points, in order)")
    _common(p, 40.0)
    p.add_argument("--hold", type=float, default=0.0, metavar="S", help="hold at each waypoint")
    p.set_defaults(handler=_route)

    p = gsub.add_parser("perimeter", help="loop along the INPUT area's boundary")
    _common(p, 40.0)
    p.add_argument(
        "--margin",
        type=float,
        default=10.0,
        metavar="M",
        help="offset inside the boundary (default 10)",
    )
    p.add_argument("--laps", type=int, default=1)
    p.add_argument("--direction", choices=("cw", "ccw"), default="cw")
    p.set_defaults(handler=_perimeter)

    p = gsub.add_parser("coverage", help="sweep the INPUT area so the camera sees all of it")
    _common(p, 60.0)
    _coverage_args(p)
    p.set_defaults(handler=_coverage)

    p = gsub.add_parser("orbit", help="circle the INPUT's point (or --center)")
    _common(p, 40.0)
    p.add_argument("--center", type=_latlon, metavar="LAT,LON", help="point of interest")
    p.add_argument("--radius", type=_positive, default=50.0, metavar="M")
    p.add_argument("--laps", type=int, default=1)
    p.add_argument("--direction", choices=("cw", "ccw"), default="cw")
    p.set_defaults(handler=_orbit)

    p = gsub.add_parser("split", help="divide a coverage among vehicles: FILE-1, FILE-2, ...")
    _common(p, 60.0)
    _coverage_args(p)
    p.add_argument("--vehicles", type=int, required=True, metavar="K")
    p.set_defaults(handler=_split)

    p = gsub.add_parser("check", help="check a plan (exit 1 on any violation)")
    p.add_argument("file", metavar="FILE", help=".plan or .waypoints")
    p.add_argument("--fence", metavar="FILE", help="inclusion fence polygons (GeoJSON/KML)")
    p.add_argument(
        "--nofly",
        metavar="FILE",
        action="append",
        default=[],
        help="no-fly zone polygons (GeoJSON/KML); repeatable",
    )
    _limits_args(p)
    p.set_defaults(handler=_check)

    p = gsub.add_parser("show", help="items, length, time, energy and fence of a plan")
    p.add_argument("file", metavar="FILE", help=".plan or .waypoints")
    p.add_argument("--capacity-wh", type=_positive, default=74.0, metavar="WH")
    p.add_argument("--reserve", type=_fraction, default=0.2, metavar="FRACTION")
    p.set_defaults(handler=_show)


# ------------------------------------------------------------------ helpers


def _limits(args: argparse.Namespace) -> Limits:
    from missions.constraints import Limits
    from missions.energy import EnergyModel

    return Limits(
        ceiling_m=args.ceiling,
        floor_m=args.floor,
        max_distance_m=args.max_distance,
        fence_margin_m=args.fence_margin,
        energy=EnergyModel(capacity_wh=args.capacity_wh, reserve_fraction=args.reserve),
    )


def _zones(paths: Sequence[str]) -> list[AreaSet]:
    from missions.formats import load_areas

    return [load_areas(p) for p in paths]


def _nofly_polys(args: argparse.Namespace, areas: AreaSet | None) -> list[BaseGeometry]:
    polys: list[BaseGeometry] = list(areas.nofly) if areas else []
    for extra in _zones(args.nofly):
        polys += [*extra.areas, *extra.nofly, *extra.fences]
    return polys


def _fence_polys(args: argparse.Namespace, areas: AreaSet | None) -> list[BaseGeometry]:
    from missions.formats import load_areas

    polys: list[BaseGeometry] = list(areas.fences) if areas else []
    if args.fence:
        extra = load_areas(args.fence)
        polys += [*extra.areas, *extra.fences]
    return polys


def _as_geofence(polys: Sequence[BaseGeometry], inclusion: bool = True) -> Geofence:
    from missions.plan import FencePolygon, Geofence, GeoPoint

    out = []
    for poly in polys:
        coords = list(poly.exterior.coords)[:-1]
        out.append(
            FencePolygon(
                vertices=tuple(GeoPoint(lat_deg=c[1], lon_deg=c[0]) for c in coords),
                inclusion=inclusion,
            )
        )
    return Geofence(polygons=tuple(out))


def _home(args: argparse.Namespace, areas: AreaSet) -> Home:
    from missions.generators import GeneratorError
    from missions.plan import Home

    if args.home is not None:
        values = args.home
        return Home(
            lat_deg=values[0], lon_deg=values[1], amsl_m=values[2] if len(values) > 2 else 0.0
        )
    if areas.home is not None:
        return areas.home
    raise GeneratorError(
        f"{args.input}: no home position; give --home LAT,LON[,AMSL] or a Point with role home"
    )


def _name(args: argparse.Namespace) -> str:
    return str(args.name or os.path.splitext(os.path.basename(args.out))[0])


def _numbered(path: str, n: int) -> str:
    stem, ext = os.path.splitext(path)
    return f"{stem}-{n}{ext}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _summary(plan: PatrolPlan, report: CheckReport) -> str:
    est = report.estimate
    return (
        f"{plan.kind}, {len(plan.items)} items, {est.distance_m / 1000:.2f} km,"
        f" {_duration(est.time_s)}, {est.energy_wh:.1f} Wh"
        f" (worst case with return {est.worst_with_return_wh:.1f} of {est.usable_wh:.1f} Wh usable)"
    )


def _print_report(report: CheckReport) -> None:
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for violation in report.violations:
        print(f"violation: {violation}")


def _finish(args: argparse.Namespace, plans: Sequence[PatrolPlan], areas: AreaSet) -> int:
    """Embed fence and no-fly zones, optionally cut into sorties, check, write, report.

    Exit 1 if any violation remains (the files are still written, for review).
    """
    from missions.constraints import check_plan
    from missions.formats import save_plan
    from missions.plan import Geofence
    from missions.sorties import split_sorties

    limits = _limits(args)
    fence_polys = _fence_polys(args, areas)
    nofly = _nofly_polys(args, areas)
    outputs: list[tuple[str, PatrolPlan]] = []
    numbered = len(plans) > 1
    for n, plan in enumerate(plans, 1):
        if plan.fence.is_empty and (fence_polys or nofly):
            zones = (
                _as_geofence(fence_polys).polygons + _as_geofence(nofly, inclusion=False).polygons
            )
            plan = replace(plan, fence=Geofence(polygons=zones))
        parts: Sequence[PatrolPlan] = (plan,)
        if args.sorties:
            parts = split_sorties(plan, limits.energy)
        for m, part in enumerate(parts, 1):
            path = _numbered(args.out, n) if numbered else args.out
            if len(parts) > 1:
                path = _numbered(path, m)
            outputs.append((path, part))
    bad = 0
    for path, plan in outputs:
        report = check_plan(plan, limits=limits)
        save_plan(plan, path)
        print(f"wrote {path}: {_summary(plan, report)}")
        _print_report(report)
        bad += len(report.violations)
    if bad:
        print(
            f"{bad} violation(s): the plan was written but is not safe to fly as is",
            file=sys.stderr,
        )
    return 1 if bad else 0


# ------------------------------------------------------------------ generators


def _route(args: argparse.Namespace) -> int:
    from missions.formats import load_areas
    from missions.generators import GeneratorError, route

    areas = load_areas(args.input)
    if areas.routes:
        points = list(areas.routes[0])
    elif areas.points:
        points = list(areas.points)
    else:
        raise GeneratorError(f"{args.input}: no line or points; expected a LineString or Points")
    plan = route(
        points,
        home=_home(args, areas),
        alt_m=args.alt,
        speed_m_s=args.speed,
        hold_s=args.hold,
        name=_name(args),
    )
    return _finish(args, [plan], areas)


def _area(args: argparse.Namespace, areas: AreaSet) -> BaseGeometry:
    from missions.generators import GeneratorError

    if not areas.areas:
        raise GeneratorError(f"{args.input}: no area polygon; expected a Polygon (role area)")
    if len(areas.areas) > 1:
        raise GeneratorError(
            f"{args.input}: {len(areas.areas)} area polygons; expected one (plan them one by one)"
        )
    return areas.areas[0]


def _perimeter(args: argparse.Namespace) -> int:
    from missions.formats import load_areas
    from missions.generators import perimeter

    areas = load_areas(args.input)
    plan = perimeter(
        _area(args, areas),
        home=_home(args, areas),
        alt_m=args.alt,
        margin_m=args.margin,
        laps=args.laps,
        clockwise=args.direction == "cw",
        speed_m_s=args.speed,
        name=_name(args),
    )
    return _finish(args, [plan], areas)


def _spec(args: argparse.Namespace) -> CoverageSpec:
    from missions.generators import CoverageSpec

    return CoverageSpec(
        alt_m=args.alt,
        hfov_deg=args.hfov,
        side_overlap=args.overlap,
        angle_deg=args.angle,
        margin_m=args.margin,
        overfly_m=args.overfly,
        speed_m_s=args.speed,
    )


def _fence_geom(args: argparse.Namespace, areas: AreaSet) -> BaseGeometry | None:
    import shapely

    polys = _fence_polys(args, areas)
    return shapely.intersection_all(polys) if polys else None


def _coverage(args: argparse.Namespace) -> int:
    from missions.formats import load_areas
    from missions.generators import coverage

    areas = load_areas(args.input)
    plan = coverage(
        _area(args, areas),
        home=_home(args, areas),
        spec=_spec(args),
        nofly=_nofly_polys(args, areas),
        fence=_fence_geom(args, areas),
        name=_name(args),
    )
    return _finish(args, [plan], areas)


def _split(args: argparse.Namespace) -> int:
    from missions.formats import load_areas
    from missions.generators import split

    areas = load_areas(args.input)
    plans = split(
        _area(args, areas),
        args.vehicles,
        home=_home(args, areas),
        spec=_spec(args),
        nofly=_nofly_polys(args, areas),
        fence=_fence_geom(args, areas),
        name=_name(args),
    )
    return _finish(args, plans, areas)


def _orbit(args: argparse.Namespace) -> int:
    from missions.formats import load_areas
    from missions.generators import GeneratorError, orbit
    from missions.plan import GeoPoint

    areas = load_areas(args.input)
    if args.center is not None:
        center = GeoPoint(lat_deg=args.center[0], lon_deg=args.center[1])
    elif areas.points:
        center = areas.points[0]
    else:
        raise GeneratorError(f"{args.input}: no point to orbit; expected a Point or --center")
    plan = orbit(
        center,
        home=_home(args, areas),
        radius_m=args.radius,
        laps=args.laps,
        alt_m=args.alt,
        clockwise=args.direction == "cw",
        speed_m_s=args.speed,
        name=_name(args),
    )
    return _finish(args, [plan], areas)


# ------------------------------------------------------------------ check / show


def _check(args: argparse.Namespace) -> int:
    from missions.constraints import check_plan
    from missions.formats import load_plan

    plan = load_plan(args.file)
    fence = _as_geofence(_fence_polys(args, None)) if args.fence else None
    report = check_plan(plan, limits=_limits(args), fence=fence, nofly=_nofly_polys(args, None))
    _print_report(report)
    if report.ok:
        print(f"{args.file}: ok: {_summary(plan, report)}")
        return 0
    print(f"{args.file}: {len(report.violations)} violation(s)", file=sys.stderr)
    return 1


def _show(args: argparse.Namespace) -> int:
    from missions.constraints import Limits, check_plan
    from missions.energy import EnergyModel
    from missions.formats import load_plan
    from missions.plan import ItemKind

    plan = load_plan(args.file)
    limits = Limits(
        energy=EnergyModel(capacity_wh=args.capacity_wh, reserve_fraction=args.reserve),
        max_distance_m=None,
    )
    report = check_plan(plan, limits=limits)
    est = report.estimate
    home = plan.home
    where = (
        f"home {home.lat_deg:.7f}, {home.lon_deg:.7f} ({home.amsl_m:.1f} m AMSL)"
        if home
        else "no planned home"
    )
    print(f"plan {plan.name!r} ({plan.kind}), {where}")
    print(
        f"{'#':>4}  {'kind':<17}{'lat':>12} {'lon':>12} {'alt m':>7}"
        f" {'speed':>6} {'hold':>5}  camera"
    )
    for k, item in enumerate(plan.items):
        if item.kind is ItemKind.RETURN_TO_LAUNCH:
            print(f"{k:>4}  {item.kind!s:<17}")
            continue
        speed = f"{item.speed_m_s:g}" if item.speed_m_s is not None else ""
        hold = f"{item.hold_s:g}" if item.hold_s else ""
        camera = "" if item.camera == "none" else str(item.camera)
        print(
            f"{k:>4}  {item.kind!s:<17}{item.lat_deg:>12.7f} {item.lon_deg:>12.7f}"
            f" {item.rel_alt_m:>7.1f} {speed:>6} {hold:>5}  {camera}"
        )
    feasible = (
        "feasible"
        if est.feasible
        else f"NOT feasible: {-est.margin_wh:.1f} Wh short, split into sorties"
    )
    print(
        f"length {est.distance_m / 1000:.2f} km, estimated time {_duration(est.time_s)},"
        f" energy {est.energy_wh:.1f} Wh; worst case with return {est.worst_with_return_wh:.1f}"
        f" of {est.usable_wh:.1f} Wh usable ({feasible})"
    )
    fence = plan.fence
    inc = sum(p.inclusion for p in fence.polygons)
    inc_c = sum(c.inclusion for c in fence.circles)
    print(
        f"fence: {inc} inclusion and {len(fence.polygons) - inc} exclusion polygons,"
        f" {inc_c} inclusion and {len(fence.circles) - inc_c} exclusion circles;"
        f" {len(plan.rally)} rally points"
    )
    for warning in report.warnings:
        print(f"warning: {warning}")
    return 0
