"""`drone-ops schedule ...` against a real SQLite store, through the CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_ops.cli import main
from missions.formats import save_plan
from missions.generators import route
from missions.plan import GeoPoint, Home


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_schedule_lifecycle_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", f"sqlite:///{tmp_path / 'ops.db'}"]
    plan = tmp_path / "depot.plan"
    save_plan(
        route(
            [GeoPoint(lat_deg=47.3985, lon_deg=8.546)], home=Home(lat_deg=47.3977, lon_deg=8.5456)
        ),
        str(plan),
    )
    code, out, _ = run(
        capsys, "schedule", "add", "night", "--cron", "*/30 * * * *", "--tz", "Europe/Zurich",
        "--window", "22:00-06:00", "--plan", str(plan), "--vehicle", "v1", "--vehicle", "v2",
        *store,
    )  # fmt: skip
    assert code == 0
    assert "next run" in out
    code, out, _ = run(
        capsys, "schedule", "add", "day", "--every", "2h", "--generator", "perimeter",
        "--param", "inset_m=5", *store,
    )  # fmt: skip
    assert code == 0

    code, out, _ = run(capsys, "schedule", "list", *store)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "WHEN"]
    night = next(line for line in lines if line.startswith("night"))
    assert "v1,v2" in night
    assert ":00 CE" in night or ":30 CE" in night  # next run shown in the schedule's zone
    assert "perimeter(inset_m=5)" in out

    code, out, _ = run(capsys, "schedule", "pause", "night", *store)
    assert code == 0
    code, out, _ = run(capsys, "schedule", "show", "night", *store)
    assert "paused" in out
    assert "next runs  -" in out
    code, out, _ = run(capsys, "schedule", "resume", "night", *store)
    assert "next run 20" in out
    code, out, _ = run(capsys, "schedule", "remove", "day", *store)
    assert code == 0
    code, out, _ = run(capsys, "schedule", "list", *store)
    assert "day" not in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--cron", "often", "--generator", "perimeter"], "5-field"),
        (["--every", "soon", "--generator", "perimeter"], "duration 'soon'"),
        (["--every", "30m", "--plan", "/no/such.plan"], "does not exist"),
        (["--every", "30m", "--generator", "g", "--window", "22-6"], "HH:MM"),
        (["--every", "30m", "--generator", "g", "--tz", "Nowhere/City"], "time zone"),
    ],
)
def test_bad_input_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, _, err = run(
        capsys, "schedule", "add", "x", *argv, "--store", f"sqlite:///{tmp_path / 'ops.db'}"
    )
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_schedule_name_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "schedule", "pause", "nope", "--store", f"sqlite:///{tmp_path}/s.db")
    assert code == 2
    assert "no schedule named 'nope'" in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["dispatch", "north,east", "--sim", "1"], "is not LAT,LON"),
        (["dispatch", "95,8", "--sim", "1"], "outside -90..90"),
        (["dispatch", "47.39,8.54", "--alt", "500", "--sim", "1"], "safe 10..120 m"),
        (["dispatch", "47.39,8.54"], "no vehicles"),
        (["serve", "--config", "/no/such/serve.toml"], "cannot read config"),
        (["serve", "--vehicle", "v1"], "is not ID=URL"),
    ],
)
def test_dispatch_and_serve_refuse_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    extra = ["--store", f"sqlite:///{tmp_path / 'ops.db'}"] if argv[0] == "dispatch" else []
    code, _, err = run(capsys, *argv, *extra)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
