"""Generate a patrol from an area file, as the planner's one-line request describes it.

    depot.geojson perimeter alt=40 margin=10 laps=2
    depot.geojson coverage alt=60 overlap=0.7 margin=5
    depot.geojson orbit radius=50 laps=1 alt=40
    depot.geojson route alt=40

The area file is GeoJSON or KML (`missions.formats.load_areas`); the generators,
the energy model and the constraint checks are the `missions` ones, so a plan
made here is the plan `drone-ops plan perimeter …` would write. No-fly zones and
fences from the file are embedded in the plan, so the checks see them.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from missions.errors import MissionsError
from missions.plan import FencePolygon, Geofence, GeoPoint, Home, PatrolPlan

if TYPE_CHECKING:
    from shapely.geometry import Polygon

__all__ = ["KINDS", "GenerateRequest", "PlanRequestError", "generate_plan", "parse_request"]

KINDS = ("route", "perimeter", "coverage", "orbit")
_KEYS = {"alt": "alt_m", "margin": "margin_m", "laps": "laps", "overlap": "overlap",
         "radius": "radius_m"}  # fmt: skip
HELP = (
    "AREA_FILE KIND [alt=M] [margin=M] [laps=N] [overlap=0..0.95] [radius=M]; "
    f"KIND is one of {', '.join(KINDS)}"
)


class PlanRequestError(MissionsError, ValueError):
    """A generate request the planner cannot act on (the message says what to type)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateRequest:
    """What to generate: the area file, the pattern and its key parameters."""

    path: Path
    kind: str
    alt_m: float = 40.0
    margin_m: float = 10.0  # perimeter: inset from the edge; coverage: clearance
    laps: int = 1  # perimeter, orbit
    overlap: float = 0.7  # coverage: side overlap of camera footprints
    radius_m: float = 50.0  # orbit

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise PlanRequestError(f"unknown pattern {self.kind!r}: use one of {', '.join(KINDS)}")
        if not (math.isfinite(self.alt_m) and 2.0 <= self.alt_m <= 500.0):
            raise PlanRequestError(f"alt={self.alt_m:g} m is outside 2..500 m above home")
        if not (math.isfinite(self.margin_m) and 0.0 <= self.margin_m <= 1000.0):
            raise PlanRequestError(f"margin={self.margin_m:g} m is outside 0..1000 m")
        if not 1 <= self.laps <= 50:
            raise PlanRequestError(f"laps={self.laps} is outside 1..50")
        if not (math.isfinite(self.overlap) and 0.0 <= self.overlap < 0.95):
            raise PlanRequestError(f"overlap={self.overlap:g} is outside 0..0.95")
        if not (math.isfinite(self.radius_m) and 5.0 <= self.radius_m <= 5000.0):
            raise PlanRequestError(f"radius={self.radius_m:g} m is outside 5..5000 m")

    def line(self) -> str:
        """The request as the planner's input would spell it."""
        parts = [shlex.quote(str(self.path)), self.kind, f"alt={self.alt_m:g}"]
        if self.kind in ("perimeter", "coverage"):
            parts.append(f"margin={self.margin_m:g}")
        if self.kind in ("perimeter", "orbit"):
            parts.append(f"laps={self.laps}")
        if self.kind == "coverage":
            parts.append(f"overlap={self.overlap:g}")
        if self.kind == "orbit":
            parts.append(f"radius={self.radius_m:g}")
        return " ".join(parts)


def parse_request(text: str) -> GenerateRequest:
    """`FILE KIND key=value …` → a checked request, or one line saying what is wrong."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise PlanRequestError(f"cannot read {text!r} ({exc}); expected {HELP}") from None
    if len(words) < 2:
        raise PlanRequestError(f"expected {HELP}")
    path, kind, *options = words
    values: dict[str, float | int] = {}
    for option in options:
        key, sep, raw = option.partition("=")
        if not sep or key not in _KEYS:
            raise PlanRequestError(
                f"unknown option {option!r}: use {', '.join(f'{k}=…' for k in _KEYS)}"
            )
        try:
            values[_KEYS[key]] = int(raw) if key == "laps" else float(raw)
        except ValueError:
            kind_of = "a whole number" if key == "laps" else "a number"
            raise PlanRequestError(f"{key}={raw!r} is not {kind_of}") from None
    return GenerateRequest(path=Path(path).expanduser(), kind=kind.lower(), **values)  # type: ignore[arg-type]


def _zones(polys: tuple[object, ...], *, inclusion: bool) -> tuple[FencePolygon, ...]:
    out = []
    for poly in polys:
        coords = list(poly.exterior.coords)[:-1]  # type: ignore[attr-defined]
        out.append(
            FencePolygon(
                vertices=tuple(GeoPoint(lat_deg=float(c[1]), lon_deg=float(c[0])) for c in coords),
                inclusion=inclusion,
            )
        )
    return tuple(out)


def generate_plan(request: GenerateRequest, *, home: Home | None = None) -> PatrolPlan:
    """Read the area file and generate the plan (home from the file, else `home`)."""
    import shapely

    from missions.formats import load_areas
    from missions.generators import CoverageSpec, coverage, orbit, perimeter, route

    source = str(request.path)
    areas = load_areas(source)
    home = areas.home or home
    if home is None:
        raise PlanRequestError(
            f"{source}: no home position; add a Point with role home, or select a vehicle "
            "that reports its home"
        )
    name = f"{request.path.stem} {request.kind}"

    def the_area() -> Polygon:
        if len(areas.areas) != 1:
            raise PlanRequestError(
                f"{source}: {len(areas.areas)} area polygons; a {request.kind} needs exactly one"
            )
        return areas.areas[0]

    if request.kind == "route":
        points = list(areas.routes[0]) if areas.routes else list(areas.points)
        if not points:
            raise PlanRequestError(f"{source}: no line or points to fly as a route")
        plan = route(points, home=home, alt_m=request.alt_m, name=name)
    elif request.kind == "perimeter":
        plan = perimeter(
            the_area(),
            home=home,
            alt_m=request.alt_m,
            margin_m=request.margin_m,
            laps=request.laps,
            name=name,
        )
    elif request.kind == "coverage":
        plan = coverage(
            the_area(),
            home=home,
            spec=CoverageSpec(
                alt_m=request.alt_m, side_overlap=request.overlap, margin_m=request.margin_m
            ),
            nofly=list(areas.nofly),
            fence=shapely.intersection_all(list(areas.fences)) if areas.fences else None,
            name=name,
        )
    else:
        if areas.points:
            center = areas.points[0]
        else:
            c = the_area().centroid
            center = GeoPoint(lat_deg=float(c.y), lon_deg=float(c.x))
        plan = orbit(
            center,
            home=home,
            radius_m=request.radius_m,
            laps=request.laps,
            alt_m=request.alt_m,
            name=name,
        )
    if plan.fence.is_empty and (areas.fences or areas.nofly):
        zones = _zones(areas.fences, inclusion=True) + _zones(areas.nofly, inclusion=False)
        plan = replace(plan, fence=Geofence(polygons=zones))
    return plan
