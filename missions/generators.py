"""Plan generators: route, perimeter, coverage, orbit, split.

Areas are shapely geometries in lon/lat (GeoJSON axis order); the work is
done in a local tangent plane (`missions.geo.LocalFrame`). Every generated
plan takes off at home, flies its pattern and returns to launch. Polygon
work is shapely's; nothing here clips polygons by hand.

Where the vehicle may fly (`fly` region): the area's outline grown by
`overfly_m` (survey planners turn outside the area; 0 keeps inside), cut to
the inclusion fence shrunk by its margin when one is given, minus holes and
no-fly zones grown by `margin_m`. Every leg of a generated pattern lies in
that region; transits that would leave it walk around the obstacle's edge.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from missions.energy import estimate_flight
from missions.errors import MissionsError
from missions.geo import LocalFrame
from missions.plan import (
    CameraAction,
    FencePolygon,
    Geofence,
    GeoPoint,
    Home,
    ItemKind,
    MissionItem,
    PatrolPlan,
)

__all__ = [
    "CoverageSpec",
    "GeneratorError",
    "coverage",
    "detour",
    "orbit",
    "perimeter",
    "route",
    "split",
]

XY = tuple[float, float]


class GeneratorError(MissionsError, ValueError):
    """Generator input that cannot produce a plan (the message says what to change)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageSpec:
    """How a coverage sweep is flown and photographed."""

    alt_m: float = 60.0
    hfov_deg: float = 70.0
    side_overlap: float = 0.7
    angle_deg: float | None = None  # None: the angle with the shortest path
    margin_m: float = 5.0  # clearance kept from holes, no-fly zones and the fence
    overfly_m: float | None = None  # None: half the footprint width
    speed_m_s: float | None = None

    def __post_init__(self) -> None:
        if not (0.0 < self.alt_m <= 1000.0):
            raise GeneratorError(f"coverage altitude {self.alt_m} m must be in 0..1000")
        if not (1.0 <= self.hfov_deg < 170.0):
            raise GeneratorError(f"camera field of view {self.hfov_deg}° must be in 1..170")
        if not (0.0 <= self.side_overlap < 0.95):
            raise GeneratorError(f"side overlap {self.side_overlap} must be in 0..0.95")
        if self.margin_m < 0 or (self.overfly_m is not None and self.overfly_m < 0):
            raise GeneratorError("margin and overfly distances must be >= 0 m")

    @property
    def footprint_m(self) -> float:
        """Ground width seen by the camera across track."""
        return 2.0 * self.alt_m * math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def spacing_m(self) -> float:
        return self.footprint_m * (1.0 - self.side_overlap)


# ------------------------------------------------------------------ helpers


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, MultiPolygon):
        return [p for p in geom.geoms if not p.is_empty]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def _area_xy(area: BaseGeometry, frame: LocalFrame, what: str) -> BaseGeometry:
    if not _polygons(area):
        raise GeneratorError(f"{what}: expected a polygon area, got {area.geom_type}")
    xy = shapely.make_valid(frame.geom_to_xy(area))
    polys = _polygons(xy)
    if not polys or sum(p.area for p in polys) < 1.0:
        raise GeneratorError(f"{what}: the area is empty (less than 1 m²)")
    return unary_union(polys)


def _nofly_xy(nofly: Iterable[BaseGeometry], frame: LocalFrame) -> BaseGeometry:
    polys = [p for z in nofly for p in _polygons(shapely.make_valid(frame.geom_to_xy(z)))]
    return unary_union(polys) if polys else Polygon()


def _home_xy(home: Home, frame: LocalFrame) -> XY:
    return frame.point_xy(home.lat_deg, home.lon_deg)


def _fence_for(frame: LocalFrame, fence: BaseGeometry | None, nofly: BaseGeometry) -> Geofence:
    """The plan's own geofence: the inclusion fence and the no-fly zones."""
    polys: list[FencePolygon] = []

    def add(poly: Polygon, inclusion: bool) -> None:
        ll = frame.geom_to_lonlat(poly.simplify(0.2))
        coords = list(ll.exterior.coords)[:-1]
        if len(coords) >= 3:
            polys.append(
                FencePolygon(
                    vertices=tuple(GeoPoint(lat_deg=c[1], lon_deg=c[0]) for c in coords),
                    inclusion=inclusion,
                )
            )

    if fence is not None:
        for p in _polygons(fence):
            add(Polygon(p.exterior), True)
    for p in _polygons(nofly):
        add(Polygon(p.exterior), False)
    return Geofence(polygons=tuple(polys))


def _build_plan(
    *,
    name: str,
    kind: str,
    home: Home,
    frame: LocalFrame,
    path_xy: Sequence[XY],
    alt_m: float,
    speed_m_s: float | None,
    params: dict[str, object],
    fence: Geofence,
    video: bool = True,
    video_span: tuple[int, int] | None = None,
    hold_s: float = 0.0,
) -> PatrolPlan:
    if not path_xy:
        raise GeneratorError(f"{kind}: the pattern has no waypoints; enlarge the area")
    xs = np.array([p[0] for p in path_xy])
    ys = np.array([p[1] for p in path_xy])
    lats, lons = frame.to_latlon(xs, ys)
    items = [
        MissionItem(
            kind=ItemKind.TAKEOFF,
            lat_deg=home.lat_deg,
            lon_deg=home.lon_deg,
            rel_alt_m=alt_m,
            speed_m_s=speed_m_s,
        )
    ]
    first, last = video_span if video_span is not None else (0, len(path_xy) - 1)
    for i, (lat, lon) in enumerate(zip(lats.tolist(), lons.tolist(), strict=True)):
        camera = CameraAction.NONE
        if video and i == first:
            camera = CameraAction.START_VIDEO
        elif video and i == last:
            camera = CameraAction.STOP_VIDEO
        items.append(
            MissionItem(
                kind=ItemKind.WAYPOINT,
                lat_deg=lat,
                lon_deg=lon,
                rel_alt_m=alt_m,
                hold_s=hold_s,
                camera=camera,
            )
        )
    items.append(
        MissionItem(kind=ItemKind.RETURN_TO_LAUNCH, lat_deg=math.nan, lon_deg=math.nan, rel_alt_m=0)
    )
    return PatrolPlan(
        name=name, kind=kind, items=tuple(items), home=home, fence=fence, params=params
    )


# ------------------------------------------------------------------ route


def route(
    points: Sequence[GeoPoint],
    *,
    home: Home,
    alt_m: float = 40.0,
    speed_m_s: float | None = None,
    hold_s: float = 0.0,
    name: str = "route",
) -> PatrolPlan:
    """Fly an ordered list of points at one altitude, then return."""
    if not points:
        raise GeneratorError("route: expected at least one point")
    frame = LocalFrame(home.lat_deg, home.lon_deg)
    path = [frame.point_xy(p.lat_deg, p.lon_deg) for p in points]
    return _build_plan(
        name=name,
        kind="route",
        home=home,
        frame=frame,
        path_xy=path,
        alt_m=alt_m,
        speed_m_s=speed_m_s,
        hold_s=hold_s,
        params={"alt_m": alt_m, "speed_m_s": speed_m_s, "hold_s": hold_s},
        fence=Geofence(),
        video=False,
    )


# ------------------------------------------------------------------ perimeter


def perimeter(
    area: BaseGeometry,
    *,
    home: Home,
    alt_m: float = 40.0,
    margin_m: float = 10.0,
    laps: int = 1,
    clockwise: bool = True,
    speed_m_s: float | None = None,
    name: str = "perimeter",
) -> PatrolPlan:
    """Loop along the area's boundary, offset inward by `margin_m`, `laps` times."""
    if laps < 1:
        raise GeneratorError(f"perimeter: laps must be >= 1, got {laps}")
    if margin_m < 0:
        raise GeneratorError(f"perimeter: margin must be >= 0 m, got {margin_m}")
    frame = LocalFrame.around(area)
    area_xy = _area_xy(area, frame, "perimeter")
    inner = Polygon(max(_polygons(area_xy), key=lambda p: p.area).exterior)
    shrunk = _polygons(inner.buffer(-margin_m, join_style="mitre") if margin_m else inner)
    if not shrunk:
        raise GeneratorError(
            f"perimeter: a {margin_m} m margin leaves nothing of the area; use a smaller margin"
        )
    # drop near-collinear vertices, never by more than half the margin (stays inside)
    tolerance = min(0.5, margin_m / 2.0)
    ring = shapely.geometry.polygon.orient(
        max(shrunk, key=lambda p: p.area).simplify(tolerance), 1.0
    )
    coords = [(float(x), float(y)) for x, y in list(ring.exterior.coords)[:-1]]
    if clockwise:
        coords.reverse()
    hx, hy = _home_xy(home, frame)
    start = min(range(len(coords)), key=lambda i: math.hypot(coords[i][0] - hx, coords[i][1] - hy))
    coords = coords[start:] + coords[:start]
    path = coords * laps + [coords[0]]
    return _build_plan(
        name=name,
        kind="perimeter",
        home=home,
        frame=frame,
        path_xy=path,
        alt_m=alt_m,
        speed_m_s=speed_m_s,
        params={
            "alt_m": alt_m,
            "margin_m": margin_m,
            "laps": laps,
            "clockwise": clockwise,
            "speed_m_s": speed_m_s,
        },
        fence=Geofence(),
    )


# ------------------------------------------------------------------ orbit


def orbit(
    center: GeoPoint,
    *,
    home: Home,
    radius_m: float = 50.0,
    laps: int = 1,
    alt_m: float = 40.0,
    clockwise: bool = True,
    speed_m_s: float | None = None,
    name: str = "orbit",
) -> PatrolPlan:
    """Circle a point of interest: chords of at most 15° or 15 m."""
    if not (radius_m >= 5.0):
        raise GeneratorError(f"orbit: radius {radius_m} m must be >= 5 m")
    if laps < 1:
        raise GeneratorError(f"orbit: laps must be >= 1, got {laps}")
    frame = LocalFrame(center.lat_deg, center.lon_deg)
    n = max(24, math.ceil(2 * math.pi * radius_m / 15.0))
    hx, hy = _home_xy(home, frame)
    start = math.atan2(hy, hx) if (hx or hy) else 0.0
    sign = -1.0 if clockwise else 1.0
    ring = [
        (
            radius_m * math.cos(start + sign * 2 * math.pi * k / n),
            radius_m * math.sin(start + sign * 2 * math.pi * k / n),
        )
        for k in range(n)
    ]
    path = ring * laps + [ring[0]]
    return _build_plan(
        name=name,
        kind="orbit",
        home=home,
        frame=frame,
        path_xy=path,
        alt_m=alt_m,
        speed_m_s=speed_m_s,
        params={
            "center": [center.lat_deg, center.lon_deg],
            "radius_m": radius_m,
            "laps": laps,
            "alt_m": alt_m,
            "clockwise": clockwise,
            "speed_m_s": speed_m_s,
        },
        fence=Geofence(),
    )


# ------------------------------------------------------------------ coverage


@dataclass(slots=True)
class _Workspace:
    frame: LocalFrame
    cover: BaseGeometry  # what the camera must see (area minus holes)
    fly: BaseGeometry  # where the vehicle may be
    fly_cov: BaseGeometry  # `fly` grown by 5 cm for robust "covers" tests
    nofly: BaseGeometry
    fence: BaseGeometry | None
    margin_m: float = 0.0
    rings: list[_Ring] = field(default_factory=list)
    ring_geoms: NDArray[np.object_] = field(default_factory=lambda: np.array([], dtype=object))


@dataclass(frozen=True, slots=True)
class _Ring:
    """One boundary ring of the fly region, ready for walking along."""

    geom: LineString
    coords: NDArray[np.float64]  # closed: first == last
    cum_m: NDArray[np.float64]  # distance along the ring at each vertex

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])


def _make_ws(
    *,
    frame: LocalFrame,
    cover: BaseGeometry,
    fly: BaseGeometry,
    nofly: BaseGeometry,
    fence: BaseGeometry | None,
    margin_m: float,
) -> _Workspace:
    fly_cov = fly.buffer(0.05)
    shapely.prepare(fly_cov)
    rings: list[_Ring] = []
    for poly in _polygons(fly):
        for ring in (poly.exterior, *poly.interiors):
            coords = np.asarray(ring.coords, dtype=float)
            steps = np.hypot(*np.diff(coords, axis=0).T)
            rings.append(
                _Ring(
                    geom=LineString(coords),
                    coords=coords,
                    cum_m=np.concatenate([[0.0], np.cumsum(steps)]),
                )
            )
    return _Workspace(
        frame=frame,
        cover=cover,
        fly=fly,
        fly_cov=fly_cov,
        nofly=nofly,
        fence=fence,
        margin_m=margin_m,
        rings=rings,
        ring_geoms=np.array([r.geom for r in rings], dtype=object),
    )


def _grown(obstacles: BaseGeometry, margin_m: float) -> BaseGeometry:
    """Obstacles grown by the margin, with few vertices (cheap to walk around).

    Grown 0.5 m more, then simplified by at most 0.5 m: the result still
    keeps at least `margin_m` from every obstacle.
    """
    return obstacles.buffer(margin_m + 0.5, quad_segs=4).simplify(0.5)


def _workspace(
    area: BaseGeometry,
    spec: CoverageSpec,
    nofly: Iterable[BaseGeometry],
    fence: BaseGeometry | None,
    frame: LocalFrame | None = None,
) -> _Workspace:
    frame = frame or LocalFrame.around(area)
    area_xy = _area_xy(area, frame, "coverage")
    nofly_xy = _nofly_xy(nofly, frame)
    holes = unary_union([Polygon(r) for p in _polygons(area_xy) for r in p.interiors])
    obstacles = unary_union([nofly_xy, holes])
    cover = area_xy.difference(obstacles) if not obstacles.is_empty else area_xy
    outline = unary_union([Polygon(p.exterior) for p in _polygons(area_xy)])
    overfly = spec.footprint_m / 2.0 if spec.overfly_m is None else spec.overfly_m
    fly = outline.buffer(overfly, join_style="mitre") if overfly > 0 else outline
    fence_xy = None
    if fence is not None:
        fence_xy = _area_xy(fence, frame, "fence")
        # 0.5 m more than the margin, as for obstacles: rounding never lands on the line
        fly = fly.intersection(fence_xy.buffer(-(spec.margin_m + 0.5)))
    if not obstacles.is_empty:
        fly = fly.difference(_grown(obstacles, spec.margin_m))
    fly = unary_union(_polygons(fly))
    if fly.is_empty:
        raise GeneratorError("coverage: nothing of the area is left to fly in; check fence/no-fly")
    return _make_ws(
        frame=frame, cover=cover, fly=fly, nofly=nofly_xy, fence=fence_xy, margin_m=spec.margin_m
    )


def _merge(intervals: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1] + gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _scanline(geom: BaseGeometry, ys: NDArray[np.float64]) -> list[list[tuple[float, float]]]:
    """Inside x-intervals of a polygonal geometry on each horizontal line y.

    Even-odd crossings of every ring edge, half-open in y so a line through a
    vertex counts it once: exact, and far cheaper than polygon overlays.
    """
    parts = []
    for poly in _polygons(geom):
        for ring in (poly.exterior, *poly.interiors):
            c = np.asarray(ring.coords, dtype=float)
            parts.append(np.column_stack([c[:-1], c[1:]]))
    if not parts:
        return [[] for _ in ys]
    e = np.concatenate(parts)  # (E, 4): x0 y0 x1 y1
    x0, y0, x1, y1 = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
    yy = ys[:, None]
    hit = ((y0 <= yy) & (yy < y1)) | ((y1 <= yy) & (yy < y0))
    dy = np.where(y1 == y0, 1.0, y1 - y0)
    xs = x0 + (yy - y0) / dy * (x1 - x0)
    out: list[list[tuple[float, float]]] = []
    for row in range(len(ys)):
        cut = np.sort(xs[row][hit[row]])
        out.append(list(zip(cut[0::2].tolist(), cut[1::2].tolist(), strict=False)))
    return out


def _sweep_segments(ws: _Workspace, spec: CoverageSpec, angle_deg: float) -> list[tuple[XY, XY]]:
    """Sweep segments (in local metres) for one angle, line by line.

    Each line flies the x-extent the camera must see in its band (half a
    spacing either side), clipped to where the vehicle may fly.
    """
    cover = affinity.rotate(ws.cover, -angle_deg, origin=(0, 0))
    fly = affinity.rotate(ws.fly, -angle_deg, origin=(0, 0))
    minx, miny, maxx, maxy = cover.bounds
    s = spec.spacing_m
    n = max(1, math.ceil((maxy - miny) / s))
    offset = (maxy - miny - (n - 1) * s) / 2.0
    ys = miny + offset + s * np.arange(n)
    shapely.prepare(cover)
    fly_spans = _scanline(fly, ys)
    segs: list[tuple[XY, XY]] = []
    cos_a, sin_a = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    for y, allowed in zip(ys.tolist(), fly_spans, strict=True):
        piece = shapely.clip_by_rect(cover, minx - 1, y - s / 2, maxx + 1, y + s / 2)
        wanted = _merge([(p.bounds[0], p.bounds[2]) for p in _polygons(piece)], 0.0)
        for a, b in wanted:
            for c, d in allowed:
                lo, hi = max(a, c), min(b, d)
                if hi - lo > 0.01:
                    p0 = (lo * cos_a - y * sin_a, lo * sin_a + y * cos_a)
                    p1 = (hi * cos_a - y * sin_a, hi * sin_a + y * cos_a)
                    segs.append((p0, p1))
    return segs


def _edge_vectors(geom: BaseGeometry) -> NDArray[np.float64]:
    """Every boundary edge (dx, dy) of every ring of a polygonal geometry."""
    parts = []
    for poly in _polygons(geom):
        for ring in (poly.exterior, *poly.interiors):
            c = np.asarray(ring.coords, dtype=float)
            parts.append(np.diff(c, axis=0))
    return np.concatenate(parts) if parts else np.zeros((0, 2))


def _sweep_costs(
    cover: BaseGeometry, angles_deg: NDArray[np.float64], spacing: float
) -> NDArray[np.float64]:
    """Path length proxy per sweep angle, computed in closed form.

    Sweep lines of spacing s cross an edge e about |e · n| / s times (n the
    lines' normal); every two crossings make one sweep segment and so one
    turn of about s. Sweep length itself is about area / s whatever the
    angle, so the angle that minimises total length is the one minimising
    sum |e · n| over all edges (outline and holes).
    """
    edges = _edge_vectors(cover)
    theta = np.radians(angles_deg)
    normals = np.stack([-np.sin(theta), np.cos(theta)])  # (2, k)
    crossings = np.abs(edges @ normals).sum(axis=0) / spacing  # (k,)
    costs: NDArray[np.float64] = float(cover.area) / spacing + crossings / 2.0 * spacing
    return costs


def _candidate_angles(cover: BaseGeometry) -> NDArray[np.float64]:
    """Every whole degree plus the direction of every long boundary edge."""
    edges = _edge_vectors(cover)
    long_edges = edges[np.hypot(edges[:, 0], edges[:, 1]) > 1.0]
    edge_angles = np.degrees(np.arctan2(long_edges[:, 1], long_edges[:, 0])) % 180.0
    return np.unique(np.concatenate([np.arange(0.0, 180.0, 1.0), np.round(edge_angles, 3)]))


def _walk_ring(ring: _Ring, da: float, db: float) -> list[XY]:
    """Vertices passed going the shorter way along `ring` from distance da to db."""
    c, d, length = ring.coords, ring.cum_m, ring.length_m

    def forward(x: float, y: float) -> NDArray[np.float64]:
        if x <= y:
            mid: NDArray[np.float64] = c[(d > x) & (d < y)]
            return mid
        return np.concatenate([c[(d > x) & (d <= length)], c[(d > 0) & (d < y)]])

    ahead = (db - da) % length
    mid = forward(da, db) if ahead <= length - ahead else forward(db, da)[::-1]
    return [(float(x), float(y)) for x, y in mid]


def _route_inside(a: XY, b: XY, ws: _Workspace, depth: int = 0) -> list[XY]:
    """Points after `a` leading to `b` with every leg inside the fly region.

    Where the straight leg leaves the region, walk the shorter way along the
    edge it leaves through (an obstacle's or the outline's) to where it comes
    back, then go on from there; finally cut corners that stay inside.
    """
    seg = LineString([a, b])
    if depth > 12 or ws.fly_cov.covers(seg):
        return [b]
    outside = seg.difference(ws.fly_cov)
    parts = [
        g
        for g in (outside.geoms if hasattr(outside, "geoms") else [outside])
        if isinstance(g, LineString) and g.length > 0.0
    ]
    if not parts:
        return [b]
    spans = sorted(
        (
            min(seg.project(Point(g.coords[0])), seg.project(Point(g.coords[-1]))),
            max(seg.project(Point(g.coords[0])), seg.project(Point(g.coords[-1]))),
        )
        for g in parts
    )
    t0 = spans[0][0]
    p_start = seg.interpolate(t0)
    ring = ws.rings[int(np.argmin(shapely.distance(ws.ring_geoms, p_start)))]
    ends = [t_end for t_beg, t_end in spans if ring.geom.distance(seg.interpolate(t_beg)) < 0.2]
    if not ends:  # `a` itself is outside the region: nothing to walk along
        return [b]
    da = ring.geom.project(p_start)
    db = ring.geom.project(seg.interpolate(max(ends)))
    entry = ring.geom.interpolate(da)
    exit_ = ring.geom.interpolate(db)
    path = [
        (float(entry.x), float(entry.y)),
        *_walk_ring(ring, da, db),
        (float(exit_.x), float(exit_.y)),
    ]
    path += _route_inside(path[-1], b, ws, depth + 1)
    return _pull_string(a, path, ws)


def _pull_string(a: XY, path: list[XY], ws: _Workspace) -> list[XY]:
    """Drop intermediate points while the shortcut stays inside the fly region."""
    out: list[XY] = []
    cur = a
    i = 0
    pts = np.asarray(path, dtype=float)
    while i < len(path):
        rest = pts[i:]
        starts = np.broadcast_to(np.asarray(cur, dtype=float), rest.shape)
        ok = shapely.covers(ws.fly_cov, shapely.linestrings(np.stack([starts, rest], axis=1)))
        visible = np.nonzero(ok)[0]
        j = i + int(visible[-1]) if len(visible) else i
        out.append(path[j])
        cur = path[j]
        i = j + 1
    return out


def _order_segments(segs: list[tuple[XY, XY]], start_near: XY) -> list[tuple[XY, XY]]:
    """Greedy boustrophedon: start at the end nearest home, then the nearest next end."""
    if not segs:
        return []
    ends = np.array([[s[0], s[1]] for s in segs], dtype=float)  # (n, 2, 2)
    n = len(segs)
    visited = np.zeros(n, dtype=bool)
    hx, hy = start_near
    d0 = np.hypot(ends[:, :, 0] - hx, ends[:, :, 1] - hy)
    k, side = np.unravel_index(int(np.argmin(d0)), d0.shape)
    ordered: list[tuple[XY, XY]] = []
    for _ in range(n):
        visited[k] = True
        seg = segs[k] if side == 0 else (segs[k][1], segs[k][0])
        ordered.append(seg)
        cx, cy = seg[1]
        d = np.hypot(ends[:, :, 0] - cx, ends[:, :, 1] - cy)
        d[visited] = np.inf
        if np.isinf(d).all():
            break
        k, side = np.unravel_index(int(np.argmin(d)), d.shape)
    return ordered


def _coverage_path(ws: _Workspace, spec: CoverageSpec, angle: float, home_xy: XY) -> list[XY]:
    segs = _sweep_segments(ws, spec, angle)
    if not segs:
        raise GeneratorError(
            "coverage: no sweep line fits in the area; lower the altitude or the margin"
        )
    ordered = _order_segments(segs, home_xy)
    # most transits (to the next line) are clear: test them all in one call
    hops = np.array([[prev[1], nxt[0]] for prev, nxt in itertools.pairwise(ordered)], dtype=float)
    clear = (
        shapely.covers(ws.fly_cov, shapely.linestrings(hops)) if len(hops) else np.array([], bool)
    )
    path: list[XY] = []
    for k, (p0, p1) in enumerate(ordered):
        if path and not clear[k - 1]:
            transit = [path[-1], *_route_inside(path[-1], p0, ws)]
            legs = shapely.linestrings(np.stack([transit[:-1], transit[1:]], axis=1))
            if not shapely.covers(ws.fly_cov, legs).all():
                parts = len(_polygons(ws.fly))
                raise GeneratorError(
                    f"coverage: holes or no-fly zones split the area into {parts} separate"
                    " parts; plan each part on its own or shrink the zones"
                )
            path.extend(transit[1:-1])
        if not path or math.hypot(p0[0] - path[-1][0], p0[1] - path[-1][1]) > 0.01:
            path.append(p0)
        if math.hypot(p1[0] - p0[0], p1[1] - p0[1]) > 0.01:
            path.append(p1)
    return path


def _with_home_transits(
    path: list[XY], ws: _Workspace, home_xy: XY
) -> tuple[list[XY], tuple[int, int]]:
    """Detour the climb-out and the return around no-fly zones and holes.

    PX4 flies straight from home to the first waypoint and, on RTL, straight
    back: where that line would cross an obstacle, add waypoints that walk
    around it (the return then starts from the last of them). Also returns
    where the pattern itself starts and ends in the new path (for the camera).
    """
    span = (0, len(path) - 1)
    if ws.nofly.is_empty and not any(p.interiors for p in _polygons(ws.cover)):
        return path, span
    obstacles = unary_union(
        [ws.nofly, *(Polygon(r) for p in _polygons(ws.cover) for r in p.interiors)]
    )
    minx, miny, maxx, maxy = unary_union([ws.fly, Point(home_xy)]).bounds
    room: BaseGeometry = box(minx - 500, miny - 500, maxx + 500, maxy + 500)
    if ws.fence is not None:
        room = room.intersection(ws.fence)
    room = room.difference(_grown(obstacles, ws.margin_m))
    polys = _polygons(room)
    if not polys or not room.covers(Point(home_xy)):
        return path, span  # home itself is blocked: the check reports the legs
    room_ws = _make_ws(
        frame=ws.frame,
        cover=ws.cover,
        fly=room,
        nofly=ws.nofly,
        fence=ws.fence,
        margin_m=ws.margin_m,
    )
    out = _route_inside(home_xy, path[0], room_ws)[:-1]
    back = _route_inside(path[-1], home_xy, room_ws)[:-1]
    return out + path + back, (len(out), len(out) + len(path) - 1)


def detour(
    start: GeoPoint, end: GeoPoint, obstacles: Sequence[BaseGeometry], *, margin_m: float = 5.0
) -> list[GeoPoint]:
    """Waypoints between `start` and `end` that keep both legs out of `obstacles`.

    For flights the vehicle makes in a straight line whatever the pattern (the
    climb-out from home, the return to it). Empty when the straight line is
    clear, or when an end point is itself inside an obstacle (nothing to
    route; the plan check reports it).
    """
    if not obstacles:
        return []
    frame = LocalFrame(start.lat_deg, start.lon_deg)
    a = frame.point_xy(start.lat_deg, start.lon_deg)
    b = frame.point_xy(end.lat_deg, end.lon_deg)
    blocked = unary_union([p for z in obstacles for p in _polygons(frame.geom_to_xy(z))])
    minx, miny, maxx, maxy = unary_union([blocked, Point(a), Point(b)]).bounds
    room = box(minx - 500, miny - 500, maxx + 500, maxy + 500).difference(_grown(blocked, margin_m))
    if not (room.covers(Point(a)) and room.covers(Point(b))):
        return []
    ws = _make_ws(frame=frame, cover=room, fly=room, nofly=blocked, fence=None, margin_m=margin_m)
    between = _route_inside(a, b, ws)[:-1]
    if not between:
        return []
    lats, lons = frame.to_latlon(
        np.array([p[0] for p in between]), np.array([p[1] for p in between])
    )
    return [
        GeoPoint(lat_deg=la, lon_deg=lo)
        for la, lo in zip(lats.tolist(), lons.tolist(), strict=True)
    ]


def _best_angle(ws: _Workspace, spec: CoverageSpec) -> float:
    if spec.angle_deg is not None:
        return spec.angle_deg % 180.0
    angles = _candidate_angles(ws.cover)
    return float(angles[int(np.argmin(_sweep_costs(ws.cover, angles, spec.spacing_m)))])


def coverage(
    area: BaseGeometry,
    *,
    home: Home,
    spec: CoverageSpec | None = None,
    nofly: Sequence[BaseGeometry] = (),
    fence: BaseGeometry | None = None,
    name: str = "coverage",
) -> PatrolPlan:
    """Boustrophedon sweep of `area` (lon/lat) so the camera sees all of it."""
    spec = spec or CoverageSpec()
    ws = _workspace(area, spec, nofly, fence)
    angle = _best_angle(ws, spec)
    home_xy = _home_xy(home, ws.frame)
    path, span = _with_home_transits(_coverage_path(ws, spec, angle, home_xy), ws, home_xy)
    return _build_plan(
        name=name,
        kind="coverage",
        home=home,
        frame=ws.frame,
        path_xy=path,
        video_span=span,
        alt_m=spec.alt_m,
        speed_m_s=spec.speed_m_s,
        params=_spec_params(spec, angle),
        fence=_fence_for(ws.frame, ws.fence, ws.nofly),
    )


def _spec_params(spec: CoverageSpec, angle: float) -> dict[str, object]:
    return {
        "alt_m": spec.alt_m,
        "hfov_deg": spec.hfov_deg,
        "side_overlap": spec.side_overlap,
        "angle_deg": round(angle, 3),
        "spacing_m": round(spec.spacing_m, 3),
        "footprint_m": round(spec.footprint_m, 3),
        "margin_m": spec.margin_m,
        "speed_m_s": spec.speed_m_s,
    }


# ------------------------------------------------------------------ split


def split(
    area: BaseGeometry,
    vehicles: int,
    *,
    home: Home,
    spec: CoverageSpec | None = None,
    nofly: Sequence[BaseGeometry] = (),
    fence: BaseGeometry | None = None,
    name: str = "coverage",
    rounds: int = 3,
) -> tuple[PatrolPlan, ...]:
    """Divide a coverage among `vehicles` into parts of about equal flight time.

    Parts are strips along the sweep lines, so each vehicle flies whole lines.
    The first cut gives equal areas; then each part's share is scaled by how
    far its estimated flight time (transit from home included) is from the
    mean, for a few rounds, keeping the most even split.
    """
    if vehicles < 1:
        raise GeneratorError(f"split: vehicles must be >= 1, got {vehicles}")
    spec = spec or CoverageSpec()
    ws = _workspace(area, spec, nofly, fence)
    angle = _best_angle(ws, spec)
    rot = affinity.rotate(ws.cover, -angle, origin=(0, 0))
    minx, miny, maxx, maxy = rot.bounds
    home_xy = _home_xy(home, ws.frame)
    shares = np.full(vehicles, 1.0 / vehicles)
    best: tuple[float, tuple[PatrolPlan, ...]] | None = None
    for _ in range(max(1, rounds)):
        cuts = _area_cuts(rot, np.cumsum(shares)[:-1], (minx, miny, maxx, maxy))
        plans = tuple(
            _split_part(ws, spec, angle, home, home_xy, cuts, j, vehicles, name)
            for j in range(vehicles)
        )
        times = np.array([estimate_flight(p).time_s for p in plans])
        spread = float(times.max() / times.min())
        if best is None or spread < best[0]:
            best = (spread, plans)
        if spread < 1.02:
            break
        shares = shares * (times.mean() / times)
        shares = shares / shares.sum()
    assert best is not None
    return best[1]


def _area_cuts(
    rot: BaseGeometry, fractions: NDArray[np.float64], bounds: tuple[float, float, float, float]
) -> list[float]:
    """y positions that cut `rot` into strips holding the given area fractions."""
    minx, miny, maxx, maxy = bounds
    total = rot.area
    cuts = [miny]
    for fraction in fractions.tolist():
        lo, hi = cuts[-1], maxy
        for _ in range(40):
            mid = (lo + hi) / 2
            if shapely.clip_by_rect(rot, minx - 1, miny - 1, maxx + 1, mid).area < total * fraction:
                lo = mid
            else:
                hi = mid
        cuts.append((lo + hi) / 2)
    cuts.append(maxy)
    return cuts


def _split_part(
    ws: _Workspace,
    spec: CoverageSpec,
    angle: float,
    home: Home,
    home_xy: XY,
    cuts: list[float],
    j: int,
    vehicles: int,
    name: str,
) -> PatrolPlan:
    minx, _, maxx, _ = affinity.rotate(ws.cover, -angle, origin=(0, 0)).bounds
    strip = affinity.rotate(box(minx - 1, cuts[j], maxx + 1, cuts[j + 1]), angle, origin=(0, 0))
    part = ws.cover.intersection(strip)
    if part.area < 1.0:
        raise GeneratorError(f"split: part {j + 1} of {vehicles} is empty; use fewer vehicles")
    part_ws = replace(ws, cover=part)
    path, span = _with_home_transits(_coverage_path(part_ws, spec, angle, home_xy), ws, home_xy)
    params = _spec_params(spec, angle) | {"part": j + 1, "parts": vehicles}
    return _build_plan(
        name=f"{name} {j + 1}/{vehicles}",
        kind="coverage",
        home=home,
        frame=ws.frame,
        path_xy=path,
        video_span=span,
        alt_m=spec.alt_m,
        speed_m_s=spec.speed_m_s,
        params=params,
        fence=_fence_for(ws.frame, ws.fence, ws.nofly),
    )
