"""Launcher for real PX4 SITL instances (SIH quadrotor, headless).

Instance i gets PX4's own ports (the same as the built-in simulator's
defaults): it listens on 14580+i and 18570+i and streams to 14540+i and
14550. Each instance runs in `build/px4_sitl_default/instance_<i>` as PX4's
`Tools/simulation/sitl_multiple_run.sh` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from types import TracebackType
from typing import Self

from sitl.config import VehiclePorts
from sitl.errors import Px4NotFoundError, SitlError

__all__ = ["Px4Sitl", "find_px4_binary"]

_BINARY = Path("build/px4_sitl_default/bin/px4")
_READY_MARKERS = ("Ready for takeoff", "pxh>")


def find_px4_binary(px4_dir: str | os.PathLike[str] | None = None) -> Path:
    """The PX4 SITL binary under `px4_dir` (or $PX4_DIR), or a one-line error."""
    root = px4_dir if px4_dir is not None else os.environ.get("PX4_DIR")
    if not root:
        raise Px4NotFoundError(
            "no PX4 build given: pass --px4-dir DIR or set PX4_DIR to a PX4-Autopilot checkout "
            "built with 'make px4_sitl_default'"
        )
    binary = Path(root).expanduser() / _BINARY
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise Px4NotFoundError(
            f"no PX4 SITL build in {root} (expected {_BINARY}): run 'make px4_sitl_default' "
            "there or point --px4-dir/PX4_DIR at a built checkout"
        )
    return binary


class Px4Sitl:
    """N PX4 SITL SIH instances as child processes; an async context manager."""

    def __init__(
        self,
        *,
        count: int,
        px4_dir: str | os.PathLike[str] | None = None,
        speedup: float = 1.0,
        ready_timeout_s: float = 90.0,
    ) -> None:
        self.binary = find_px4_binary(px4_dir)
        self.count = count
        self.speedup = speedup
        self.ready_timeout_s = ready_timeout_s
        self.ports = [VehiclePorts.px4(i) for i in range(count)]
        self._procs: list[asyncio.subprocess.Process] = []
        self._ready: list[asyncio.Event] = []
        self._task_group: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        build = self.binary.parent.parent
        env = dict(os.environ)
        env.update(
            PX4_SYS_AUTOSTART="10040",
            PX4_SIM_MODEL="sihsim_quadx",
            PX4_SIM_SPEED_FACTOR=f"{self.speedup:g}",
            HEADLESS="1",
        )
        try:
            for i in range(self.count):
                workdir = build / f"instance_{i}"
                workdir.mkdir(parents=True, exist_ok=True)
                proc = await asyncio.create_subprocess_exec(
                    str(self.binary), "-i", str(i), "-d", str(build / "etc"),
                    cwd=workdir, env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip
                self._procs.append(proc)
                self._ready.append(asyncio.Event())
            self._task_group = asyncio.TaskGroup()
            await self._task_group.__aenter__()
            for i, proc in enumerate(self._procs):
                self._task_group.create_task(
                    self._pump_log(i, proc, workdir.parent / f"instance_{i}" / "px4.log"),
                    name=f"px4-{i}-log",
                )
            async with asyncio.timeout(self.ready_timeout_s):
                for i, event in enumerate(self._ready):
                    await event.wait()
                    if self._procs[i].returncode is not None:
                        raise SitlError(
                            f"PX4 instance {i} exited during startup "
                            f"(code {self._procs[i].returncode}): see {build}/instance_{i}/px4.log"
                        )
        except TimeoutError as exc:
            await self.stop()
            raise SitlError(
                f"PX4 SITL did not report ready within {self.ready_timeout_s:.0f} s: "
                f"check {build}/instance_*/ and the PX4 build"
            ) from exc
        except BaseException:
            await self.stop()
            raise

    async def _pump_log(self, index: int, proc: asyncio.subprocess.Process, path: Path) -> None:
        """Copy PX4's console to a log file (a full pipe would stall PX4) and
        signal readiness when PX4 says it is ready (or exits)."""
        assert proc.stdout is not None
        ready = self._ready[index]
        with path.open("ab") as log:
            while line := await proc.stdout.readline():
                log.write(line)
                log.flush()
                if not ready.is_set() and any(
                    marker in line.decode(errors="replace") for marker in _READY_MARKERS
                ):
                    ready.set()
        await proc.wait()
        ready.set()

    async def stop(self) -> None:
        for proc in self._procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in self._procs:
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task_group is not None:
            await self._task_group.__aexit__(None, None, None)
            self._task_group = None
        self._procs.clear()
        self._ready.clear()
