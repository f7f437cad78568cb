"""The PX4 SITL launcher, against a *fake* PX4 binary (no PX4 build can run
here): a shell script that records how it was started and prints PX4's
ready line. The real thing runs with `--sitl px4 --px4-dir DIR`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sitl import Px4NotFoundError, Px4Sitl, SitlError, find_px4_binary

FAKE_PX4 = """#!/bin/sh
# fake px4 for tests: record argv, cwd and the SIH environment, then idle
echo "$@" > args.txt
pwd > cwd.txt
echo "$PX4_SYS_AUTOSTART $PX4_SIM_MODEL $PX4_SIM_SPEED_FACTOR" > env.txt
echo "INFO  [px4] startup script: /bin/sh etc/init.d-posix/rcS 0"
{ready}
exec sleep 60
"""


def fake_build(root: Path, *, ready: bool = True) -> Path:
    binary = root / "build/px4_sitl_default/bin/px4"
    binary.parent.mkdir(parents=True)
    (root / "build/px4_sitl_default/etc").mkdir()
    line = 'echo "INFO  [commander] Ready for takeoff!"' if ready else "exit 3"
    binary.write_text(FAKE_PX4.format(ready=line))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_missing_build_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(Px4NotFoundError) as info:
        find_px4_binary(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "make px4_sitl_default" in message
    assert "\n" not in message


async def test_launcher_starts_instances_like_sitl_multiple_run(tmp_path: Path) -> None:
    fake_build(tmp_path)
    async with Px4Sitl(count=2, px4_dir=tmp_path, speedup=4, ready_timeout_s=20) as px4:
        assert [p.api_remote for p in px4.ports] == [14540, 14541]
        build = tmp_path / "build/px4_sitl_default"
        for i in range(2):
            workdir = build / f"instance_{i}"
            assert (workdir / "args.txt").read_text().split() == [
                "-i",
                str(i),
                "-d",
                str(build / "etc"),
            ]
            assert (workdir / "cwd.txt").read_text().strip() == str(workdir)
            assert (workdir / "env.txt").read_text().split() == ["10040", "sihsim_quadx", "4"]
            assert "Ready for takeoff" in (workdir / "px4.log").read_text()
        procs = list(px4._procs)
        assert all(p.returncode is None for p in procs)
    assert all(p.returncode is not None for p in procs), "instances stopped on exit"


async def test_an_instance_that_dies_at_startup_is_reported(tmp_path: Path) -> None:
    fake_build(tmp_path, ready=False)
    with pytest.raises(SitlError, match="exited during startup"):
        async with Px4Sitl(count=1, px4_dir=tmp_path, ready_timeout_s=20):
            pass


def test_px4_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = fake_build(tmp_path)
    monkeypatch.setenv("PX4_DIR", os.fspath(tmp_path))
    assert find_px4_binary() == binary
