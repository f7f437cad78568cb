"""Cameras for a running `SimFleet`: one per vehicle, on the vehicle's video port.

`async with FleetCameras(fleet, sdp_dir=Path("var/video")):` starts a camera
task per vehicle (named `sitl-camera-<i>`) in its own TaskGroup, rendering from
`vehicle.pose()` on the fleet's sim clock, streaming to `vehicle.ports.video`
(5600+i by PX4's convention) and writing `vehicle-<i>.sdp` for players. The
ground texture is built once and shared; its origin is the fleet's home, so
all vehicles see the same town.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from sitl.camera.camera import CameraConfig, SimCamera
from sitl.camera.ground import GroundTexture
from sitl.camera.render import CameraPose

__all__ = ["FleetCameras"]


class _Pose(Protocol):
    @property
    def lat_deg(self) -> float: ...
    @property
    def lon_deg(self) -> float: ...
    @property
    def rel_alt_m(self) -> float: ...
    @property
    def heading_deg(self) -> float: ...


class _Ports(Protocol):
    @property
    def video(self) -> int: ...


class _Vehicle(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def system_id(self) -> int: ...
    @property
    def ports(self) -> _Ports: ...
    def pose(self) -> _Pose: ...


class _Clock(Protocol):
    speedup: float

    def unix_usec(self) -> int: ...


class _Config(Protocol):
    @property
    def home(self) -> tuple[float, float, float]: ...
    @property
    def seed(self) -> int: ...


class _Fleet(Protocol):
    @property
    def vehicles(self) -> Sequence[_Vehicle]: ...
    @property
    def clock(self) -> _Clock: ...
    @property
    def config(self) -> _Config: ...


class _SimClockAdapter:
    """The fleet's clock as the camera reads it (Unix seconds on the sim clock)."""

    def __init__(self, clock: _Clock) -> None:
        self._clock = clock

    @property
    def speedup(self) -> float:
        return float(self._clock.speedup)

    def time_unix_s(self) -> float:
        return self._clock.unix_usec() / 1e6


def _pose_of(vehicle: _Vehicle) -> CameraPose:
    p = vehicle.pose()
    return CameraPose(
        lat_deg=p.lat_deg, lon_deg=p.lon_deg, rel_alt_m=p.rel_alt_m, heading_deg=p.heading_deg
    )


class FleetCameras:
    """One simulated camera per vehicle of a running fleet."""

    def __init__(
        self, fleet: _Fleet, *, sdp_dir: Path | None = None, config: CameraConfig | None = None
    ) -> None:
        self.fleet = fleet
        self.sdp_dir = sdp_dir
        self.base_config = config or CameraConfig()
        self.cameras: list[SimCamera] = []
        self._task_group: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        fleet = self.fleet
        seed = self.base_config.seed or fleet.config.seed
        ground = await asyncio.to_thread(GroundTexture.generate, seed=seed)
        clock = _SimClockAdapter(fleet.clock)
        home_lat, home_lon, _ = fleet.config.home
        for vehicle in fleet.vehicles:
            sdp = (
                self.sdp_dir / f"vehicle-{vehicle.index}.sdp" if self.sdp_dir is not None else None
            )
            config = replace(self.base_config, port=vehicle.ports.video, sdp_path=sdp, seed=seed)
            self.cameras.append(
                SimCamera(
                    vehicle_id=f"v{vehicle.system_id}",
                    pose=lambda v=vehicle: _pose_of(v),  # type: ignore[misc]
                    clock=clock,
                    config=config,
                    ground=ground,
                    origin=(home_lat, home_lon),
                )
            )
        self._task_group = asyncio.TaskGroup()
        await self._task_group.__aenter__()
        self._tasks = [
            self._task_group.create_task(camera.run(), name=f"sitl-camera-{i}")
            for i, camera in enumerate(self.cameras)
        ]
        try:
            async with asyncio.timeout(30):
                for camera in self.cameras:
                    await camera.wait_ready()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task_group is None:
            return
        for task in self._tasks:
            task.cancel()
        await self._task_group.__aexit__(None, None, None)
        self._task_group = None
