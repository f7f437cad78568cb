"""File formats: round trips, files written by other tools, malformed input messages."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from shapely.geometry import shape

from missions import CameraAction, ItemKind, PatrolPlan
from missions.formats import (
    FormatError,
    areas_from_geojson,
    areas_from_kml,
    load_areas,
    load_plan,
    plan_from_qgc,
    plan_to_geojson,
    plan_to_kml,
    plan_to_qgc,
    save_plan,
    waypoints_to_plan,
)
from missions.generators import CoverageSpec, coverage
from tests.missions.test_plan_mavlink import _plan  # one richly populated plan

DATA = Path(__file__).parent / "data"


def same_items(a: PatrolPlan, b: PatrolPlan) -> None:
    assert len(a.items) == len(b.items)
    for x, y in zip(a.items, b.items, strict=True):
        assert (x.kind, x.speed_m_s, x.hold_s, x.camera, x.acceptance_radius_m) == (
            y.kind,
            y.speed_m_s,
            y.hold_s,
            y.camera,
            y.acceptance_radius_m,
        )
        if x.kind is not ItemKind.RETURN_TO_LAUNCH:
            assert x.lat_deg == pytest.approx(y.lat_deg, abs=1e-7)
            assert x.lon_deg == pytest.approx(y.lon_deg, abs=1e-7)
            assert x.rel_alt_m == pytest.approx(y.rel_alt_m, abs=1e-6)


@pytest.mark.parametrize("ext", [".plan", ".waypoints"])
def test_round_trip_through_files(tmp_path: Path, ext: str) -> None:
    plan = _plan()
    path = tmp_path / f"depot{ext}"
    save_plan(plan, str(path))
    back = load_plan(str(path))
    same_items(plan, back)
    assert back.home is not None
    assert back.home.amsl_m == pytest.approx(plan.home.amsl_m)  # type: ignore[union-attr]
    if ext == ".plan":  # .waypoints carries the mission only
        assert back.fence == plan.fence
        assert back.rally == plan.rally
        assert back.name == plan.name


def test_qgc_export_has_the_fields_qgc_requires() -> None:
    doc = plan_to_qgc(_plan())
    assert doc["fileType"] == "Plan"
    assert doc["version"] == 1
    mission = doc["mission"]
    for key in (
        "version",
        "firmwareType",
        "globalPlanAltitudeMode",
        "vehicleType",
        "cruiseSpeed",
        "hoverSpeed",
        "items",
        "plannedHomePosition",
    ):
        assert key in mission
    assert (mission["version"], mission["firmwareType"], mission["vehicleType"]) == (2, 12, 2)
    first = mission["items"][0]
    # the planned home is not a mission item: item 1 is the takeoff
    assert first["command"] == 22
    assert first["doJumpId"] == 1
    assert first["frame"] == 3
    assert first["Altitude"] == first["params"][6] == 30
    assert first["params"][3] is None  # NaN yaw becomes null, as QGC writes it
    assert all(len(i["params"]) == 7 for i in mission["items"])
    json.dumps(doc, allow_nan=False)
    poly = doc["geoFence"]["polygons"][0]["polygon"]
    area2 = sum(a[1] * b[0] - b[1] * a[0] for a, b in zip(poly, poly[1:] + poly[:1], strict=True))
    assert area2 < 0  # clockwise, as the spec asks
    assert doc["geoFence"]["version"] == 2
    assert doc["rallyPoints"]["version"] == 2


def test_qgc_file_with_a_survey_complex_item() -> None:
    plan = load_plan(str(DATA / "qgc_survey.plan"))
    kinds = [i.kind for i in plan.items]
    assert kinds == [ItemKind.TAKEOFF] + [ItemKind.WAYPOINT] * 3 + [ItemKind.RETURN_TO_LAUNCH]
    assert plan.home is not None
    assert plan.home.amsl_m == pytest.approx(487.989)
    assert plan.fence.circles[0].radius_m == pytest.approx(319.85)
    assert not plan.fence.polygons[0].inclusion
    assert plan.rally[0].rel_alt_m == 50
    skipped = plan.params["skipped_commands"]
    assert len(skipped) == 2
    assert "mission.items[1].TransectStyleComplexItem.Items[1]: command 206" in skipped[0]


def test_mission_planner_waypoints_with_home_comments_and_any_whitespace() -> None:
    plan = load_plan(str(DATA / "mission_planner.waypoints"))
    assert plan.home is not None
    assert (plan.home.lat_deg, plan.home.amsl_m) == (47.397742, 489.4)
    assert [i.kind for i in plan.items] == [
        ItemKind.TAKEOFF,
        ItemKind.WAYPOINT,
        ItemKind.WAYPOINT,
        ItemKind.RETURN_TO_LAUNCH,
    ]
    assert plan.items[1].speed_m_s == 8.0
    assert plan.items[2].hold_s == 5.0
    assert plan.items[1].lat_deg == pytest.approx(47.3985)  # X is latitude, as mavwp reads it
    assert plan.items[1].lon_deg == pytest.approx(8.5462)


def test_geojson_and_kml_areas_agree() -> None:
    gj = load_areas(str(DATA / "depot.geojson"))
    kml = load_areas(str(DATA / "park.kml"))
    for areas in (gj, kml):
        assert len(areas.areas) == 1
        assert len(areas.areas[0].interiors) == 1
        assert len(areas.nofly) == 1
        assert areas.home is not None
        assert areas.home.amsl_m == 489.4
    assert gj.areas[0].equals(kml.areas[0])
    assert len(gj.routes[0]) == 3
    assert gj.points[0].lon_deg == 8.5462


def test_plans_out_as_geojson_and_kml_carry_path_fence_and_items(tmp_path: Path) -> None:
    areas = load_areas(str(DATA / "depot.geojson"))
    assert areas.home is not None
    plan = coverage(areas.areas[0], home=areas.home, nofly=areas.nofly, spec=CoverageSpec(alt_m=40))
    doc = plan_to_geojson(plan)
    path = next(f for f in doc["features"] if f["properties"]["role"] == "path")
    line = shape(path["geometry"])
    positioned = [i for i in plan.items if i.kind is not ItemKind.RETURN_TO_LAUNCH]
    assert len(line.coords) == len(positioned)
    back = areas_from_geojson(doc)  # our own output reads back as areas
    assert len(back.nofly) == 1
    assert back.home == plan.home
    kml = plan_to_kml(plan)
    from_kml = areas_from_kml(kml)
    assert len(from_kml.nofly) == 1
    assert len(from_kml.routes[0]) == len(positioned)
    save_plan(plan, str(tmp_path / "p.kml"))
    save_plan(plan, str(tmp_path / "p.geojson"))
    json.loads((tmp_path / "p.geojson").read_text())


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.plan",
            '{"fileType": "Plan",\n "mission": [}',
            r"a\.plan: line 2 column 14: invalid JSON",
        ),
        ("b.plan", '{"fileType": "Plan"}', r"b\.plan: mission: missing"),
        (
            "c.plan",
            json.dumps(
                {
                    "fileType": "Plan",
                    "mission": {
                        "plannedHomePosition": [47, 8, 0],
                        "items": [
                            {"type": "SimpleItem", "command": 16, "frame": 3, "params": [0, 0, 0]}
                        ],
                    },
                }
            ),
            r"c\.plan: mission\.items\[0\]\.params: expected 7 values, got 3",
        ),
        (
            "d.plan",
            json.dumps(
                {
                    "fileType": "Plan",
                    "mission": {
                        "plannedHomePosition": [47, 8, 0],
                        "items": [
                            {
                                "type": "SimpleItem",
                                "command": 177,
                                "frame": 2,
                                "params": [1, 2, 0, 0, 0, 0, 0],
                            }
                        ],
                    },
                }
            ),
            r"d\.plan: mission\.items\[0\]\.command: command 177 is not supported",
        ),
        (
            "e.plan",
            json.dumps(
                {
                    "fileType": "Plan",
                    "mission": {
                        "plannedHomePosition": [47, 8, 0],
                        "items": [{"type": "ComplexItem", "complexItemType": "StructureScan"}],
                    },
                }
            ),
            r"e\.plan: mission\.items\[0\]\.complexItemType: "
            r"complex item 'StructureScan' cannot be read",
        ),
        (
            "f.plan",
            json.dumps(
                {"fileType": "Plan", "mission": {"plannedHomePosition": [147, 8, 0], "items": []}}
            ),
            r"f\.plan: mission\.plannedHomePosition: \[147\.0, 8\.0\] is not a latitude, longitude",
        ),
        (
            "g.waypoints",
            "QGC WPL 110\n0 1 0 16 0 0 0 0 47 8 0\n",
            r"g\.waypoints: line 2: 11 values; expected 12",
        ),
        ("h.waypoints", "QGC WPL 120\n", r"h\.waypoints: line 1: version 120 is not supported"),
        ("i.waypoints", "hello\n", r"i\.waypoints: line 1: expected the header 'QGC WPL 110'"),
        (
            "j.waypoints",
            "QGC WPL 110\n1 0 3 16 0 0 0 0 abc 8 40 1\n",
            r"j\.waypoints: line 2: .*expected numbers",
        ),
        (
            "k.mission",
            "x",
            r"k\.mission: cannot read a plan from \.mission; expected \.plan or \.waypoints",
        ),
    ],
)
def test_malformed_plan_files_name_file_place_and_expectation(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(FormatError, match=message):
        load_plan(_write(tmp_path, name, text))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.geojson",
            json.dumps(
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[[8.5, 47.4], [8.6, 47.4], [8.6, 47.5]]],
                    },
                }
            ),
            r"a\.geojson: geometry\.coordinates\[0\]: "
            r"expected a closed ring of at least 4 positions",
        ),
        (
            "b.geojson",
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {},
                            "geometry": {"type": "Point", "coordinates": [47.4, 100.0]},
                        }
                    ],
                }
            ),
            r"b\.geojson: features\[0\]\.geometry\.coordinates: "
            r"\[47\.4, 100\.0\] is not \[longitude, latitude\]",
        ),
        (
            "c.geojson",
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {"role": "danger"},
                            "geometry": {"type": "Point", "coordinates": [8, 47]},
                        }
                    ],
                }
            ),
            r"c\.geojson: features\[0\]\.properties\.role: 'danger' is not a role",
        ),
        ("d.kml", "<kml><Document><Placemark>", r"d\.kml: line 1 column 26: invalid XML"),
        (
            "e.kml",
            "<kml><Placemark><name>yard</name><Polygon><outerBoundaryIs><LinearRing>"
            "<coordinates>8.5,47.4 8.6,x</coordinates></LinearRing></outerBoundaryIs>"
            "</Polygon></Placemark></kml>",
            r"e\.kml: Placemark 1 \(yard\) outer boundary tuple 2: '8\.6,x' is not lon,lat\[,alt\]",
        ),
    ],
)
def test_malformed_area_files_name_file_place_and_expectation(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(FormatError, match=message):
        load_areas(_write(tmp_path, name, text))


def test_waypoints_without_home_line_and_nan_params() -> None:
    text = "QGC WPL 110\n0\t0\t3\t16\t0\t0\t0\tnan\t47.4\t8.5\t30\t1\n1 0 2 2000 0 0 1 0 0 0 0 1\n"
    plan = waypoints_to_plan(text)
    assert plan.home is None
    assert plan.items[0].camera is CameraAction.PHOTO
    assert plan.items[0].rel_alt_m == 30
    assert math.isnan(plan_from_qgc(plan_to_qgc(plan)).items[0].lat_deg) is False
