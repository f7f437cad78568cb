"""Schedules with `--plan FILE`: every plan and area format a run can fly, checked at add time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drone_ops.cli import main
from drone_ops.schedule import PlanSource
from drone_ops.scheduling.plans import load_plan
from missions.formats import save_plan
from missions.generators import route
from missions.plan import GeoPoint, Home, ItemKind, PatrolPlan

HOME = Home(lat_deg=47.397743, lon_deg=8.545594, amsl_m=489.4)
ELSEWHERE = Home(lat_deg=47.40, lon_deg=8.55, amsl_m=500.0)  # the run's vehicle home
POINTS = [
    GeoPoint(lat_deg=47.3985, lon_deg=8.5460),
    GeoPoint(lat_deg=47.3985, lon_deg=8.5470),
    GeoPoint(lat_deg=47.3978, lon_deg=8.5470),
]


def _route_plan() -> PatrolPlan:
    return route(POINTS, home=HOME, alt_m=30.0, name="depot")


def _waypoints(plan: PatrolPlan) -> list[tuple[float, float]]:
    return [
        (round(i.lat_deg, 5), round(i.lon_deg, 5))
        for i in plan.items
        if i.kind is ItemKind.WAYPOINT and i.lat_deg is not None and i.lon_deg is not None
    ]


def _area_geojson(path: Path, polygons: int = 1) -> Path:
    ring = [[8.5460, 47.3980], [8.5475, 47.3980], [8.5475, 47.3990], [8.5460, 47.3990]]
    features = [
        {
            "type": "Feature",
            "properties": {"role": "area"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x + 0.01 * k, y] for x, y in [*ring, ring[0]]]],
            },
        }
        for k in range(polygons)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _add(tmp_path: Path, plan: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(
        ["schedule", "add", plan.stem, "--every", "1h", "--plan", str(plan),
         "--store", f"sqlite:///{tmp_path / 'ops.db'}"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("suffix", [".plan", ".waypoints", ".geojson", ".kml"])
def test_a_saved_route_in_every_format_is_scheduled_and_flown_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    path = tmp_path / f"depot{suffix}"
    save_plan(_route_plan(), str(path))
    code, text = _add(tmp_path, path, capsys)
    assert code == 0, text
    assert "next run" in text
    plan = load_plan(PlanSource(file=str(path)), home=ELSEWHERE, name="depot")
    assert _waypoints(plan) == _waypoints(_route_plan())
    assert plan.items[-1].kind is ItemKind.RETURN_TO_LAUNCH


def test_an_area_file_is_flown_as_a_perimeter_from_the_vehicles_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _area_geojson(tmp_path / "yard.geojson")
    code, text = _add(tmp_path, path, capsys)
    assert code == 0, text
    plan = load_plan(PlanSource(file=str(path)), home=ELSEWHERE, name="yard")
    assert plan.kind == "perimeter"
    assert plan.home == ELSEWHERE
    wps = _waypoints(plan)
    assert len(wps) >= 4
    # inside the area (10 m margin), not on its edge
    assert all(47.3980 < lat < 47.3990 and 8.5460 < lon < 8.5475 for lat, lon in wps)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("broken.plan", "{}", "broken.plan"),
        ("broken.waypoints", "not a waypoint file\n", "broken.waypoints"),
        ("broken.kml", "<kml><oops", "broken.kml"),
        ("notes.txt", "hello", "unknown type .txt"),
        ("two.geojson", None, "2 area polygons"),
    ],
)
def test_a_bad_plan_file_is_refused_at_add_time_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    fragment: str,
) -> None:
    path = tmp_path / name
    if content is None:
        _area_geojson(path, polygons=2)
    else:
        path.write_text(content)
    code, text = _add(tmp_path, path, capsys)
    assert code == 2
    assert fragment in text
    assert len(text.strip().splitlines()) == 1
    assert not (tmp_path / "ops.db").exists()  # refused before the store was touched
