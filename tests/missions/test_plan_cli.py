"""`drone-ops plan ...` through the real entry point: files in, files out, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from drone_ops.cli import main
from missions import ItemKind
from missions.constraints import check_plan
from missions.energy import estimate_flight
from missions.formats import load_plan

DATA = Path(__file__).parent / "data"
DEPOT = str(DATA / "depot.geojson")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_coverage_writes_a_checked_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "yard.plan"
    code, stdout, stderr = run(
        capsys, "plan", "coverage", DEPOT, "--alt", "80", "--overlap", "50%", "--out", str(out)
    )
    assert code == 0, stdout + stderr
    assert stdout.startswith(f"wrote {out}: coverage, ")
    plan = load_plan(str(out))
    assert plan.items[0].kind is ItemKind.TAKEOFF
    assert plan.items[-1].kind is ItemKind.RETURN_TO_LAUNCH
    assert plan.params["alt_m"] == 80
    assert plan.params["side_overlap"] == 0.5
    assert [p.inclusion for p in plan.fence.polygons] == [False]  # the fuel store, embedded
    assert check_plan(plan).ok


def test_too_big_for_one_battery_exits_1_and_sorties_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "yard.plan"
    code, stdout, _ = run(capsys, "plan", "coverage", DEPOT, "--alt", "30", "--out", str(out))
    assert code == 1
    assert "violation: plan: energy: needs " in stdout
    code, stdout, stderr = run(
        capsys, "plan", "coverage", DEPOT, "--alt", "30", "--sorties", "--out", str(out)
    )
    assert code == 0, stdout + stderr
    files = sorted(tmp_path.glob("yard-*.plan"))
    assert len(files) >= 2
    for f in files:
        assert estimate_flight(load_plan(str(f))).feasible


def test_split_writes_one_plan_per_vehicle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "yard.waypoints"
    code, stdout, _ = run(capsys, "plan", "split", DEPOT, "--vehicles", "3", "--out", str(out))
    assert code == 0, stdout
    assert [p.name for p in sorted(tmp_path.iterdir())] == [
        "yard-1.waypoints",
        "yard-2.waypoints",
        "yard-3.waypoints",
    ]


@pytest.mark.parametrize(
    ("action", "extra", "kind"),
    [
        ("route", [], "route"),
        ("perimeter", ["--laps", "2", "--direction", "ccw"], "perimeter"),
        ("orbit", ["--radius", "40"], "orbit"),
    ],
)
def test_other_generators_write_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str, extra: list[str], kind: str
) -> None:
    for ext in (".plan", ".waypoints", ".geojson", ".kml"):
        out = tmp_path / f"p{ext}"
        code, stdout, stderr = run(capsys, "plan", action, DEPOT, *extra, "--out", str(out))
        assert code == 0, stdout + stderr
        assert out.stat().st_size > 0
    assert load_plan(str(tmp_path / "p.plan")).kind == kind


def test_check_names_each_violation_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "r.plan"
    assert run(capsys, "plan", "route", DEPOT, "--out", str(plan_file))[0] == 0
    zone = tmp_path / "zone.geojson"
    zone.write_text(
        json.dumps(
            {
                "type": "Polygon",
                "coordinates": [
                    [
                        [8.5460, 47.3969],
                        [8.5465, 47.3969],
                        [8.5465, 47.3976],
                        [8.5460, 47.3976],
                        [8.5460, 47.3969],
                    ]
                ],
            }
        )
    )
    code, stdout, _ = run(
        capsys, "plan", "check", str(plan_file), "--nofly", str(zone), "--ceiling", "30"
    )
    assert code == 1
    lines = stdout.strip().splitlines()
    assert all(line.startswith("violation: ") for line in lines)
    assert any(
        line.startswith("violation: leg 1→2: no-fly: crosses no-fly zone 1 for ") for line in lines
    )
    assert any(line.startswith("violation: item 1: ceiling: altitude 40.0 m") for line in lines)
    code, stdout, _ = run(capsys, "plan", "check", str(plan_file))
    assert code == 0
    assert stdout.startswith(f"{plan_file}: ok: route, 5 items")


def test_show_lists_items_estimate_and_fence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, _ = run(capsys, "plan", "show", str(DATA / "qgc_survey.plan"))
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].startswith("plan ")
    assert "home 47.3977419, 8.5455940 (488.0 m AMSL)" in lines[0]
    assert lines[2].split()[:2] == ["0", "takeoff"]
    assert "estimated time" in stdout
    assert (
        "fence: 0 inclusion and 1 exclusion polygons, 1 inclusion and 0 exclusion circles;"
        " 1 rally points" in stdout
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "show", "missing.plan"], "No such file or directory: 'missing.plan'"),
        (
            ["plan", "coverage", str(DATA / "park.kml"), "--out", "x.docx"],
            "x.docx: cannot write a plan as .docx",
        ),
        (
            ["plan", "orbit", str(DATA / "park.kml"), "--out", "x.plan"],
            "no point to orbit; expected a Point or --center",
        ),
        (["plan", "check", str(DATA / "depot.geojson")], "cannot read a plan from .geojson"),
    ],
)
def test_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, stderr = run(capsys, *argv)
    assert code == 2
    assert stderr.count("\n") == 1
    assert message in stderr


def test_malformed_input_through_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Polygon", "coordinates": [[[8.5, 47.4], [8.6, 47.4]]]}')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "drone_ops.cli",
            "plan",
            "coverage",
            str(bad),
            "--home",
            "47.4,8.5",
            "--out",
            str(tmp_path / "o.plan"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"drone-ops plan: error: {bad}: geometry.coordinates[0]: expected a closed ring of at"
        " least 4 positions"
    )
