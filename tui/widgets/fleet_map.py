"""The terminal map: fence, no-fly zones, route, vehicles with heading and trail, incidents.

Attributes down: the app sets `scene`; the widget only draws. Zoom, pan and
follow are local view state changed through its methods (bound to keys by the
screen). Positions are projected on a local flat plane around a fixed origin,
which is accurate to well under a dot over a patrol area of a few kilometres.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widget import Widget

from missions.plan import FenceCircle, ItemKind, PatrolPlan
from tui.canvas import BrailleCanvas
from tui.model import IncidentView, VehicleView

__all__ = ["FleetMap", "MapScene", "Projection"]

_M_PER_DEG_LAT = 110_540.0
_M_PER_DEG_LON_EQUATOR = 111_320.0
_ARROWS = "↑↗→↘↓↙←↖"
ZOOM_STEP = 1.5
MIN_M_PER_DOT = 0.05
MAX_M_PER_DOT = 5_000.0
MIN_FIT_VIEW_M = 60.0  # fitting never zooms in further than this across the view

STYLE_FENCE = Style(color="green")
STYLE_NO_FLY = Style(color="red")
STYLE_ROUTE = Style(color="cyan")
STYLE_TRAIL = Style(color="bright_black")
STYLE_VEHICLE = Style(color="yellow", bold=True)
STYLE_SELECTED = Style(color="black", bgcolor="yellow", bold=True)
STYLE_HOME = Style(color="magenta", bold=True)
STYLE_RALLY = Style(color="blue", bold=True)
STYLE_INCIDENT = Style(color="white", bgcolor="red", bold=True)
STYLE_WAYPOINT = Style(color="cyan", bold=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class MapScene:
    """Everything the map draws, as one immutable value."""

    vehicles: tuple[VehicleView, ...] = ()
    trails: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    plan: PatrolPlan | None = None
    incidents: tuple[IncidentView, ...] = ()
    selected: str | None = None

    def points(self) -> list[tuple[float, float]]:
        """Every position worth keeping in view (for fitting the zoom)."""
        pts: list[tuple[float, float]] = []
        if self.plan is not None:
            if self.plan.home is not None:
                pts.append((self.plan.home.lat_deg, self.plan.home.lon_deg))
            pts.extend((i.lat_deg, i.lon_deg) for i in self.plan.items if not math.isnan(i.lat_deg))
            for poly in self.plan.fence.polygons:
                pts.extend((v.lat_deg, v.lon_deg) for v in poly.vertices)
        for v in self.vehicles:
            if v.lat_deg is not None and v.lon_deg is not None:
                pts.append((v.lat_deg, v.lon_deg))
        return pts


@dataclass(frozen=True, slots=True)
class Projection:
    """Local flat projection: degrees → metres east/north of an origin."""

    lat0_deg: float
    lon0_deg: float

    def to_m(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        east = (
            (lon_deg - self.lon0_deg)
            * _M_PER_DEG_LON_EQUATOR
            * math.cos(math.radians(self.lat0_deg))
        )
        north = (lat_deg - self.lat0_deg) * _M_PER_DEG_LAT
        return east, north

    def to_deg(self, east_m: float, north_m: float) -> tuple[float, float]:
        lat = self.lat0_deg + north_m / _M_PER_DEG_LAT
        lon = self.lon0_deg + east_m / (
            _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.lat0_deg))
        )
        return lat, lon


class FleetMap(Widget, can_focus=True):
    """Braille map of the fleet and the plan. Focused, the arrow keys pan it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "pan(-8, 0)", "Pan", show=False),
        Binding("right", "pan(8, 0)", "Pan", show=False),
        Binding("up", "pan(0, -4)", "Pan", show=False),
        Binding("down", "pan(0, 4)", "Pan", show=False),
    ]

    DEFAULT_CSS = """
    FleetMap {
        border: round $primary 50%;
        border-title-color: $text;
        height: 1fr;
        width: 1fr;
        min-height: 5;
    }
    FleetMap:focus {
        border: round $accent;
    }
    """

    scene: reactive[MapScene] = reactive(MapScene)  # equal scenes do not repaint
    m_per_dot: reactive[float] = reactive(10.0)
    center_east_m: reactive[float] = reactive(0.0)
    center_north_m: reactive[float] = reactive(0.0)
    follow: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._projection: Projection | None = None
        # Re-fit when something leaves the view, until the operator zooms or pans.
        self.auto_fit = True
        self.border_title = "Map"

    # ------------------------------------------------------------ view state
    @property
    def projection(self) -> Projection | None:
        return self._projection

    def zoom_in(self) -> None:
        self.auto_fit = False
        self.m_per_dot = max(MIN_M_PER_DOT, self.m_per_dot / ZOOM_STEP)

    def zoom_out(self) -> None:
        self.auto_fit = False
        self.m_per_dot = min(MAX_M_PER_DOT, self.m_per_dot * ZOOM_STEP)

    def pan(self, dx_cells: int, dy_cells: int) -> None:
        """Move the view by whole cells (a quarter of the view per key press feels right)."""
        self.follow = False
        self.auto_fit = False
        self.center_east_m += dx_cells * 2 * self.m_per_dot
        self.center_north_m -= dy_cells * 4 * self.m_per_dot

    def action_pan(self, dx_cells: int, dy_cells: int) -> None:
        self.pan(dx_cells, dy_cells)

    def toggle_follow(self) -> None:
        self.follow = not self.follow

    def fit(self) -> None:
        """Zoom and centre so the plan and every vehicle are in view."""
        points = self.scene.points()
        if not points:
            return
        if self._projection is None:
            self._projection = Projection(points[0][0], points[0][1])
        metres = [self._projection.to_m(lat, lon) for lat, lon in points]
        east = [m[0] for m in metres]
        north = [m[1] for m in metres]
        self.center_east_m = (min(east) + max(east)) / 2
        self.center_north_m = (min(north) + max(north)) / 2
        width_dots = max(2, self.content_size.width * 2 - 4)
        height_dots = max(4, self.content_size.height * 4 - 8)
        span = max(
            (max(east) - min(east)) / width_dots,
            (max(north) - min(north)) / height_dots,
            MIN_FIT_VIEW_M / width_dots,
        )
        self.m_per_dot = min(MAX_M_PER_DOT, max(MIN_M_PER_DOT, span * 1.1))
        self.auto_fit = True

    def watch_scene(self, old: MapScene, new: MapScene) -> None:
        points = new.points()
        if not points:
            return
        if self._projection is None:
            self._projection = Projection(points[0][0], points[0][1])
            self.call_after_refresh(self.fit)
        elif new.plan is not old.plan or (self.auto_fit and not self._in_view(points)):
            self.call_after_refresh(self.fit)

    def _in_view(self, points: list[tuple[float, float]]) -> bool:
        """Whether every point is inside the current view (with a small margin)."""
        assert self._projection is not None
        half_e = self.content_size.width * self.m_per_dot * 0.95  # 2 dots per cell, halved
        half_n = self.content_size.height * 2 * self.m_per_dot * 0.95  # 4 dots per cell, halved
        for lat, lon in points:
            east, north = self._projection.to_m(lat, lon)
            if abs(east - self.center_east_m) > half_e or abs(north - self.center_north_m) > half_n:
                return False
        return True

    def on_resize(self) -> None:
        if self._projection is not None:
            self.fit()

    # ------------------------------------------------------------ drawing
    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        canvas = self.draw(width, height)
        self.border_subtitle = self._subtitle()
        return Text("\n", end="").join(canvas.rows())

    def _subtitle(self) -> str:
        scale = self.m_per_dot * 2 * 10  # ten cells
        text = f"10 cells = {scale:.0f} m" if scale >= 10 else f"10 cells = {scale:.1f} m"
        if self.follow and self.scene.selected:
            text += f" · following {self.scene.selected}"
        return text

    def draw(self, width: int, height: int) -> BrailleCanvas:
        """Draw the scene onto a fresh canvas of `width`×`height` cells."""
        canvas = BrailleCanvas(width, height)
        scene = self.scene
        proj = self._projection
        if proj is None or width <= 0 or height <= 0:
            canvas.text(max(0, width // 2 - 6), height // 2, "no positions", Style(dim=True))
            return canvas
        center_e, center_n = self.center_east_m, self.center_north_m
        if self.follow and scene.selected:
            for v in scene.vehicles:
                if v.vehicle_id == scene.selected and v.lat_deg is not None:
                    assert v.lon_deg is not None
                    center_e, center_n = proj.to_m(v.lat_deg, v.lon_deg)
        scale = self.m_per_dot
        half_w, half_h = canvas.dot_width / 2, canvas.dot_height / 2

        def xy(lat: float, lon: float) -> tuple[float, float]:
            east, north = proj.to_m(lat, lon)
            return half_w + (east - center_e) / scale, half_h - (north - center_n) / scale

        plan = scene.plan
        if plan is not None:
            for poly in plan.fence.polygons:
                pts = [xy(v.lat_deg, v.lon_deg) for v in poly.vertices]
                canvas.polyline(pts, STYLE_FENCE if poly.inclusion else STYLE_NO_FLY, closed=True)
            for circle in plan.fence.circles:
                canvas.polyline(
                    _circle(circle, proj, xy), STYLE_FENCE if circle.inclusion else STYLE_NO_FLY
                )
            route = [xy(i.lat_deg, i.lon_deg) for i in plan.items if not math.isnan(i.lat_deg)]
            canvas.polyline(route, STYLE_ROUTE)
        for trail in scene.trails.values():
            canvas.polyline([xy(lat, lon) for lat, lon in trail], STYLE_TRAIL)
        # Markers: waypoints, then home/rally, incidents, vehicles (last wins).
        if plan is not None:
            for item in plan.items:
                if item.kind is ItemKind.WAYPOINT and not math.isnan(item.lat_deg):
                    x, y = xy(item.lat_deg, item.lon_deg)
                    canvas.glyph(x, y, "∙", STYLE_WAYPOINT)
            for rally in plan.rally:
                x, y = xy(rally.lat_deg, rally.lon_deg)
                canvas.glyph(x, y, "R", STYLE_RALLY)
            if plan.home is not None:
                x, y = xy(plan.home.lat_deg, plan.home.lon_deg)
                canvas.glyph(x, y, "H", STYLE_HOME)
        for v in scene.vehicles:
            if v.home_lat_deg is not None and v.home_lon_deg is not None:
                x, y = xy(v.home_lat_deg, v.home_lon_deg)
                canvas.glyph(x, y, "H", STYLE_HOME)
        for inc in scene.incidents:
            if inc.is_active and inc.lat_deg is not None and inc.lon_deg is not None:
                x, y = xy(inc.lat_deg, inc.lon_deg)
                canvas.glyph(x, y, "!", STYLE_INCIDENT)
        selected_at: tuple[float, float] | None = None
        for v in scene.vehicles:
            if v.lat_deg is None or v.lon_deg is None:
                continue
            x, y = xy(v.lat_deg, v.lon_deg)
            if v.vehicle_id == scene.selected:
                selected_at = (x, y)
                continue
            canvas.glyph(x, y, _arrow(v.heading_deg), STYLE_VEHICLE)
        if selected_at is not None and scene.selected is not None:
            sel = next(v for v in scene.vehicles if v.vehicle_id == scene.selected)
            x, y = selected_at
            canvas.glyph(x, y, _arrow(sel.heading_deg), STYLE_SELECTED)
            col, row = round(x) // 2 + 1, round(y) // 4
            if x >= 0 and y >= 0:
                canvas.text(col, row, _short(scene.selected), Style(color="yellow"))
        return canvas


def _arrow(heading_deg: float | None) -> str:
    if heading_deg is None or not math.isfinite(heading_deg):
        return "●"
    return _ARROWS[round((heading_deg % 360.0) / 45.0) % 8]


def _short(vehicle_id: str) -> str:
    return vehicle_id if len(vehicle_id) <= 10 else vehicle_id[:9] + "…"


def _circle(
    circle: FenceCircle,
    proj: Projection,
    to_xy: Callable[[float, float], tuple[float, float]],
    segments: int = 36,
) -> Sequence[tuple[float, float]]:
    east0, north0 = proj.to_m(circle.center.lat_deg, circle.center.lon_deg)
    pts = []
    for k in range(segments + 1):
        a = 2 * math.pi * k / segments
        lat, lon = proj.to_deg(
            east0 + circle.radius_m * math.cos(a), north0 + circle.radius_m * math.sin(a)
        )
        pts.append(to_xy(lat, lon))
    return pts
