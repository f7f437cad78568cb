"""`drone-ops fly`, `status` and `demo` end to end (real simulator, real SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from drone_ops.cli import main
from missions.formats import save_plan
from missions.generators import route
from missions.plan import GeoPoint, Home

pytestmark = pytest.mark.slow

HOME = Home(lat_deg=47.397743, lon_deg=8.545594, amsl_m=489.4)


def _plan_file(tmp_path: Path, alt_m: float = 15) -> Path:
    plan = route(
        [GeoPoint(lat_deg=47.3980, lon_deg=8.5456), GeoPoint(lat_deg=47.3980, lon_deg=8.5460)],
        home=HOME,
        alt_m=alt_m,
        name="cli",
    )
    path = tmp_path / "patrol.plan"
    save_plan(plan, str(path))
    return path


def test_demo_headless_flies_every_vehicle_and_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    var = tmp_path / "var"
    code = main(["demo", "--headless", "--count", "2", "--speedup", "25", "--var", str(var)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2/2 sorties completed" in out
    assert "v1: closed" in out
    with sqlite3.connect(var / "drone-ops.db") as db:
        rows = db.execute("select vehicle_id, outcome, tlog_path from sorties").fetchall()
        actions = {r[0] for r in db.execute("select action from audit_entries")}
        samples = db.execute("select count(*) from telemetry").fetchone()[0]
    assert sorted((v, o) for v, o, _ in rows) == [("v1", "completed"), ("v2", "completed")]
    assert all(Path(t).stat().st_size > 1000 for _, _, t in rows)
    assert {"command.arm.request", "command.arm.result", "sortie.event"} <= actions
    assert samples > 10


def test_fly_sim_exits_zero_when_landed_and_disarmed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_file(tmp_path)
    code = main(["fly", str(plan), "--sim", "--speedup", "25", "--tlog-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "item 4/4" in out
    assert "fly: sortie completed" in out
    assert list(tmp_path.glob("v1-*.tlog"))


def test_fly_refused_sortie_exits_1_with_the_reason_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_file(tmp_path, alt_m=150)
    code = main(["fly", str(plan), "--sim", "--speedup", "10", "--tlog-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("fly: sortie refused: ")
    assert "ceiling: highest item 150 m (need <= 120 m above home)" in lines[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["fly", "missing.plan", "--sim"], "missing.plan"),
        (["fly", "PLAN", "--connect", "tcp://x:1"], "unknown scheme"),
        (["status", "--connect", "udpin://0.0.0.0:70000"], "65535"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    argv = [str(_plan_file(tmp_path)) if a == "PLAN" else a for a in argv]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1


async def _run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drone_ops.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_status_prints_one_row_per_vehicle(sim_fleet: Any) -> None:
    async with sim_fleet(count=2, speedup=1) as fut:
        urls = [f"udpin://127.0.0.1:{fut.api_port(i)}" for i in range(2)]
        code, out = await _run("status", "--connect", urls[0], "--connect", urls[1])
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["VEHICLE", "SYSID", "LINK", "MODE"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["v1", "1", "connected", "AUTO.LOITER"],
        ["v2", "2", "connected", "AUTO.LOITER"],
    ]


async def test_status_without_a_vehicle_exits_1(unused_udp_port: int) -> None:
    code, out = await _run("status", "--connect", f"udpin://127.0.0.1:{unused_udp_port}",
                           "--timeout", "0.5")  # fmt: skip
    assert code == 1
    assert "connecting" in out
