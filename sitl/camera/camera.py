"""A simulated vehicle camera: pose in, RTP/H.264 out, paced by the sim clock.

Frames are due on a grid of the *sim* clock (every 1/fps sim seconds). A
camera that falls behind (speedup, a busy machine) skips to the latest due slot
and counts the skipped ones as dropped, so a frame's timestamp is always the
sim time it shows, never a backlog. Rendering and encoding run in a worker
thread, so the simulator's MAVLink loop on the event loop never waits for x264.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sitl.camera.errors import CameraConfigError
from sitl.camera.ground import GroundTexture
from sitl.camera.h264 import EncodedFrame, H264Encoder
from sitl.camera.render import CameraPose, FrameRenderer, LocalTangentPlane
from sitl.camera.rtp import RtpPacketizer, RtpSender
from sitl.camera.sdp import write_sdp

__all__ = [
    "DEFAULT_HFOV_DEG",
    "VIDEO_BASE_PORT",
    "CameraClock",
    "CameraConfig",
    "CameraStats",
    "ScaledClock",
    "SimCamera",
    "video_port",
]

log = logging.getLogger(__name__)

VIDEO_BASE_PORT = 5600  # PX4 Gazebo cameras: RTP/H.264 to UDP 5600 (+ instance)
DEFAULT_HFOV_DEG = 84.0  # the planner spaces coverage lanes with the same value


def video_port(index: int) -> int:
    """The conventional video port of vehicle `index` (0-based): 5600 + index."""
    return VIDEO_BASE_PORT + index


class CameraClock(Protocol):
    """The sim clock as the camera needs it: Unix seconds now, and how fast it runs."""

    @property
    def speedup(self) -> float: ...

    def time_unix_s(self) -> float: ...


class ScaledClock:
    """Wall clock running `speedup` times faster from the moment it is created."""

    def __init__(self, speedup: float = 1.0, *, start_unix_s: float | None = None) -> None:
        if not speedup > 0:
            raise CameraConfigError(f"clock speedup {speedup} must be positive")
        self._speedup = speedup
        self._start_unix_s = time.time() if start_unix_s is None else start_unix_s
        self._start_mono = time.monotonic()

    @property
    def speedup(self) -> float:
        return self._speedup

    def time_unix_s(self) -> float:
        return self._start_unix_s + (time.monotonic() - self._start_mono) * self._speedup


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraConfig:
    """Camera geometry, rate and destination. Defaults: 640×480, 84° HFOV, 15 fps, 1 s GOP."""

    width_px: int = 640
    height_px: int = 480
    fps: float = 15.0
    hfov_deg: float = DEFAULT_HFOV_DEG
    gop_s: float = 1.0
    host: str = "127.0.0.1"
    port: int = VIDEO_BASE_PORT
    max_wall_fps: float | None = None  # cap on frames per wall second; default = fps
    seed: int = 1
    sdp_path: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise CameraConfigError(f"video port {self.port} is not a UDP port: use 1..65535")
        if not 0.5 <= self.fps <= 60:
            raise CameraConfigError(f"camera rate {self.fps} fps is out of 0.5..60")
        if self.max_wall_fps is not None and not self.max_wall_fps > 0:
            raise CameraConfigError("max_wall_fps must be positive (or None for the frame rate)")


@dataclass(slots=True)
class CameraStats:
    """Counters a test or benchmark can read while the camera runs."""

    frames_sent: int = 0
    frames_dropped: int = 0
    keyframes_sent: int = 0
    frames_without_pose: int = 0
    last_frame_unix_us: int | None = None
    frame_times_unix_us: list[int] = field(default_factory=list)  # the last few hundred


class SimCamera:
    """One vehicle's camera. `async with` runs it in its own task; `run()` fits a TaskGroup."""

    def __init__(
        self,
        *,
        vehicle_id: str,
        pose: Callable[[], CameraPose | None],
        clock: CameraClock,
        config: CameraConfig | None = None,
        ground: GroundTexture | None = None,
        origin: tuple[float, float] | None = None,
        on_frame: Callable[[EncodedFrame], None] | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.config = config or CameraConfig()
        self.stats = CameraStats()
        self._pose = pose
        self._clock = clock
        self._ground = ground
        self._origin = origin
        self._on_frame = on_frame
        self._renderer: FrameRenderer | None = None
        self._encoder = H264Encoder(
            width_px=self.config.width_px,
            height_px=self.config.height_px,
            fps=self.config.fps,
            gop_s=self.config.gop_s,
        )
        self._packetizer = RtpPacketizer()
        self._ready = asyncio.Event()
        self._task_group: asyncio.TaskGroup | None = None
        self._task: asyncio.Task[None] | None = None

    async def wait_ready(self) -> None:
        """Return once the socket is open, the SDP written and frames are due."""
        await self._ready.wait()

    async def __aenter__(self) -> SimCamera:
        self._task_group = asyncio.TaskGroup()
        await self._task_group.__aenter__()
        self._task = self._task_group.create_task(self.run(), name=f"camera-{self.vehicle_id}")
        ready = self._task_group.create_task(
            self.wait_ready(), name=f"camera-{self.vehicle_id}-ready"
        )
        await asyncio.wait([self._task, ready], return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():  # failed to start: leave, raising its error
            ready.cancel()
            await self.__aexit__(None, None, None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._task_group is not None:
            await self._task_group.__aexit__(None, None, None)
        self._task_group = self._task = None

    def _renderer_for(self, pose: CameraPose) -> FrameRenderer:
        if self._renderer is None:
            if self._ground is None:
                self._ground = GroundTexture.generate(seed=self.config.seed)
            lat0, lon0 = self._origin or (pose.lat_deg, pose.lon_deg)
            self._renderer = FrameRenderer(
                ground=self._ground,
                plane=LocalTangentPlane(origin_lat_deg=lat0, origin_lon_deg=lon0),
                width_px=self.config.width_px,
                height_px=self.config.height_px,
                hfov_deg=self.config.hfov_deg,
            )
        return self._renderer

    def _render_encode(self, pose: CameraPose, time_unix_us: int) -> list[EncodedFrame]:
        rgb: npt.NDArray[np.uint8] = self._renderer_for(pose).render_rgbx(
            pose, label=self.vehicle_id, time_unix_us=time_unix_us
        )
        return self._encoder.encode(rgb, time_unix_us=time_unix_us)

    async def run(self) -> None:
        """Stream until cancelled."""
        cfg = self.config
        period_s = 1.0 / cfg.fps
        min_wall_s = 1.0 / (cfg.max_wall_fps or cfg.fps)
        if self._ground is None:  # build the ground off the event loop (about a second)
            self._ground = await asyncio.to_thread(GroundTexture.generate, seed=cfg.seed)
        async with RtpSender(host=cfg.host, port=cfg.port) as sender:
            if cfg.sdp_path is not None:
                write_sdp(
                    cfg.sdp_path,
                    host=cfg.host,
                    port=cfg.port,
                    title=f"drone-ops {self.vehicle_id} camera",
                    fps=cfg.fps,
                )
            self._ready.set()
            next_slot = math.ceil(self._clock.time_unix_s() / period_s) * period_s
            last_wall = -math.inf
            while True:
                wait_s = max(
                    (next_slot - self._clock.time_unix_s()) / self._clock.speedup,
                    last_wall + min_wall_s - time.monotonic(),
                )
                if wait_s > 0:  # a sim clock can run slower than its speedup: re-check
                    await asyncio.sleep(max(wait_s, 0.001))
                    continue
                last_wall = time.monotonic()
                now_s = self._clock.time_unix_s()
                # Late? Show the latest due slot; the ones in between are dropped.
                slot = max(next_slot, math.floor(now_s / period_s) * period_s)
                self.stats.frames_dropped += round((slot - next_slot) / period_s)
                next_slot = slot + period_s
                pose = self._pose()
                if pose is None:
                    self.stats.frames_without_pose += 1
                    continue
                slot_us = round(slot * 1e6)
                frames = await asyncio.to_thread(self._render_encode, pose, slot_us)
                for frame in frames:
                    sender.send(self._packetizer.packets(frame))
                    self._count(frame)

    def _count(self, frame: EncodedFrame) -> None:
        st = self.stats
        st.frames_sent += 1
        st.keyframes_sent += frame.keyframe
        st.last_frame_unix_us = frame.time_unix_us
        st.frame_times_unix_us.append(frame.time_unix_us)
        if len(st.frame_times_unix_us) > 512:
            del st.frame_times_unix_us[:256]
        if self._on_frame is not None:
            self._on_frame(frame)
