"""The console's read-model, braille canvas and map projection (no Textual app needed)."""

from __future__ import annotations

import math

import pytest
from rich.style import Style
from tui_fakes import HOME_LAT, HOME_LON, fixed_plan, fixed_updates, offset

from tui.backend import CommandRequest, ConsoleCommandError, VehicleAction
from tui.canvas import BrailleCanvas
from tui.model import (
    TRAIL_POINTS,
    AlertLevel,
    FleetModel,
    IncidentView,
    StatusText,
    VehicleView,
    alerts_for,
)
from tui.widgets.fleet_map import FleetMap, MapScene, Projection

S = Style()


def test_model_keeps_latest_state_per_vehicle_and_counts_versions() -> None:
    model = FleetModel()
    model.apply(VehicleView(vehicle_id="drone-10", battery_pct=50.0))
    model.apply(VehicleView(vehicle_id="drone-2", battery_pct=80.0))
    model.apply(VehicleView(vehicle_id="drone-2", battery_pct=79.0))
    assert [v.vehicle_id for v in model.vehicle_list()] == ["drone-2", "drone-10"]  # natural
    assert model.vehicles["drone-2"].battery_pct == 79.0
    assert model.version == 3


def test_trail_is_bounded_and_skips_hovering_duplicates() -> None:
    model = FleetModel()
    for k in range(TRAIL_POINTS + 30):
        lat, lon = offset(float(k), 0.0)
        model.apply(VehicleView(vehicle_id="drone-1", lat_deg=lat, lon_deg=lon))
    for _ in range(10):  # hovering: same point again
        model.apply(VehicleView(vehicle_id="drone-1", lat_deg=lat, lon_deg=lon))
    trail = model.trail_snapshot()["drone-1"]
    assert len(trail) == TRAIL_POINTS
    assert trail[-1] == (lat, lon)
    assert trail[0] == offset(30.0, 0.0)  # the oldest 30 were dropped, newest kept


def test_status_texts_and_incidents_are_kept() -> None:
    model = FleetModel()
    model.apply_all(fixed_updates())
    assert model.texts_for("drone-2")[-1].text == "Low battery, return advised"
    assert [i.incident_id for i in model.incident_list()] == ["2", "1"]
    for k in range(20):
        model.apply(StatusText(vehicle_id="drone-1", severity=6, text=f"m{k}"))
    assert [t.text for t in model.texts_for("drone-1")][-1] == "m19"
    assert len(model.texts_for("drone-1")) == 8


def test_alerts_name_the_condition_worst_first() -> None:
    v = VehicleView(vehicle_id="d", link_ok=False, battery_pct=6.0, gps_fix=3, satellites=12)
    alerts = alerts_for(v)
    assert [a.code for a in alerts] == ["link_lost", "battery_critical"]
    assert alerts[0].level is AlertLevel.CRITICAL
    assert alerts_for(VehicleView(vehicle_id="d", battery_pct=14.0))[0].code == "battery_low"
    assert alerts_for(VehicleView(vehicle_id="d", battery_pct=60.0, gps_fix=3, satellites=9)) == ()
    weak = alerts_for(VehicleView(vehicle_id="d", gps_fix=3, satellites=4))
    assert weak[0].code == "gps_weak"


def test_command_requests_are_validated_before_they_leave_the_console() -> None:
    with pytest.raises(ConsoleCommandError, match="no vehicle selected"):
        CommandRequest(vehicle_id="", action=VehicleAction.RTL)
    with pytest.raises(ConsoleCommandError, match="altitude"):
        CommandRequest(vehicle_id="drone-1", action=VehicleAction.TAKEOFF, alt_m=900.0)
    with pytest.raises(ConsoleCommandError, match="latitude"):
        CommandRequest(
            vehicle_id="drone-1", action=VehicleAction.GOTO, alt_m=30, lat_deg=95, lon_deg=8
        )
    with pytest.raises(ConsoleCommandError, match="no plan loaded"):
        CommandRequest(vehicle_id="drone-1", action=VehicleAction.START_PATROL)
    ok = CommandRequest(vehicle_id="drone-1", action=VehicleAction.START_PATROL, plan=fixed_plan())
    assert ok.describe() == "Start patrol drone-1 with plan 'riverside' (6 items)"
    assert (
        CommandRequest(vehicle_id="drone-2", action=VehicleAction.TAKEOFF, alt_m=20).describe()
        == "Take off drone-2 to 20 m"
    )


def test_canvas_sets_braille_dots_and_glyphs() -> None:
    canvas = BrailleCanvas(3, 1)
    canvas.dot(0, 0, S)  # top-left dot of cell 0
    canvas.dot(1, 3, S)  # bottom-right dot of cell 0
    canvas.line(2, 0, 2, 3, S)  # left column of cell 1
    canvas.glyph(4, 0, "H", S)  # cell 2
    assert canvas.plain_rows() == [chr(0x2800 + 0x01 + 0x80) + chr(0x2800 + 0x47) + "H"]


def test_canvas_clips_far_lines_and_ignores_dots_outside() -> None:
    canvas = BrailleCanvas(4, 2)
    canvas.dot(-1, 0, S)
    canvas.dot(8, 0, S)
    canvas.line(-1e9, 3, 1e9, 3, S)  # a huge horizontal line through row 0, dot row 3
    assert canvas.plain_rows()[0] == chr(0x2800 + 0x40 + 0x80) * 4
    assert canvas.plain_rows()[1] == " " * 4


def test_projection_round_trips_and_has_metres() -> None:
    proj = Projection(HOME_LAT, HOME_LON)
    lat, lon = offset(100.0, 200.0)
    east, north = proj.to_m(lat, lon)
    assert east == pytest.approx(200.0, abs=0.01)
    assert north == pytest.approx(100.0, abs=0.01)
    assert proj.to_deg(east, north) == pytest.approx((lat, lon))


def _drawn(scene: MapScene, width: int = 40, height: int = 20, **view: float) -> list[str]:
    m = FleetMap()
    m.scene = scene
    m._projection = Projection(HOME_LAT, HOME_LON)
    for key, value in view.items():
        setattr(m, key, value)
    return m.draw(width, height).plain_rows()


def test_map_draws_vehicle_heading_home_incident_and_fence() -> None:
    plan = fixed_plan()
    north = VehicleView(vehicle_id="a", lat_deg=HOME_LAT, lon_deg=HOME_LON, heading_deg=2.0)
    south_east = VehicleView(
        vehicle_id="b", lat_deg=offset(0, 60)[0], lon_deg=offset(0, 60)[1], heading_deg=135.0
    )
    lat, lon = offset(-60, -60)
    incident = IncidentView(
        incident_id="9", kind="k", severity="low", status="open", time_text="t",  # type: ignore[arg-type]
        lat_deg=lat, lon_deg=lon,
    )  # fmt: skip
    rows = _drawn(
        MapScene(vehicles=(north, south_east), plan=plan, incidents=(incident,)),
        m_per_dot=10.0,
    )
    text = "\n".join(rows)
    assert rows[10][20] == "↑"  # centre of a 40×20 view, heading north
    assert rows[10][23] == "↘"  # 60 m east = 6 dots = 3 cells
    assert rows[11][17] == "!"  # 60 m south-west: 6 dots down (1.5 rows), 3 cells left
    assert "R" in text  # rally point
    braille = sum(1 for ch in text if 0x2800 < ord(ch) <= 0x28FF)
    assert braille > 40  # fence, no-fly zones and route drawn as dots


def test_map_follow_centres_the_selected_vehicle() -> None:
    lat, lon = offset(500.0, 500.0)
    far = VehicleView(vehicle_id="far", lat_deg=lat, lon_deg=lon, heading_deg=90.0)
    scene = MapScene(vehicles=(far,), selected="far")
    not_following = "\n".join(_drawn(scene, m_per_dot=5.0))
    assert "→" not in not_following  # 500 m away at 5 m/dot is off-screen
    rows = _drawn(scene, m_per_dot=5.0, follow=True)
    assert rows[10][20] == "→"
    assert rows[10][21:24] == "far"  # the selected vehicle is labelled


def test_no_heading_draws_a_dot_marker() -> None:
    v = VehicleView(vehicle_id="a", lat_deg=HOME_LAT, lon_deg=HOME_LON)
    assert _drawn(MapScene(vehicles=(v,)), m_per_dot=1.0)[10][20] == "●"
    assert math.isfinite(offset(1, 1)[0])
