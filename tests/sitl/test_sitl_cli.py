"""`drone-ops sim` / `drone-ops px4` and `--sitl px4`: one-line errors, clean runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from drone_ops.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["sim", "--count", "x"], "--count 'x' is not a whole number"),
        (["sim", "--count", "0"], "--count 0 is out of range"),
        (["sim", "--speedup", "nan"], "--speedup 'nan' must be finite"),
        (["sim", "--home", "47.3,8.5"], "give LAT,LON,ALT_M"),
        (["sim", "--home", "95,8.5,400"], "is not a valid position"),
        (["sim", "--wind", "50,90"], "--wind 50.0,90.0: speed must be 0..30 m/s"),
        (["sim", "--loss", "100"], "--loss 100.0 is out of range"),
        (["px4", "--px4-dir", "/nonexistent/px4"], "no PX4 SITL build in /nonexistent/px4"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


def test_sim_runs_until_interrupted_and_stops_cleanly(tmp_path: Path) -> None:
    # Port-in-use on PX4's ports would be a (correct) one-line error; this
    # test only needs the process to start, so it skips if the ports are busy.
    proc = subprocess.Popen(
        [sys.executable, "-m", "drone_ops.cli", "sim", "--count", "2", "--speedup", "5"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first:
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait(timeout=10)
        if "already in use" in err:
            assert err.count("\n") == 1
            pytest.skip("PX4 SITL ports are busy on this machine")
        pytest.fail(f"sim exited early: {err}")
    assert first.startswith("vehicle 1: API udp :14580 -> 127.0.0.1:14540")
    assert proc.stdout.readline().startswith("vehicle 2: API udp :14581")
    assert "Ctrl-C to stop" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopped at t=" in out
    assert "Traceback" not in err


def test_pytest_sitl_px4_without_a_build_is_a_one_line_usage_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PX4_DIR"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--sitl", "px4", "--collect-only", "-q", "-p",
         "no:cacheprovider", "tests/sitl/test_sitl_cli.py"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 4  # pytest's usage error
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("--sitl px4: no PX4 build given" in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr
