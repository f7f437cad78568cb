"""The latest picture of a stream, downscaled, for a live preview (the TUI).

Decoding costs CPU, so the recorder only feeds this while someone watches;
it starts at the next keyframe and keeps only the newest picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

from telemetry.video.depacketize import AccessUnit

__all__ = ["PreviewDecoder", "PreviewFrame"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewFrame:
    vehicle_id: str
    time_unix_us: int
    rgb: npt.NDArray[np.uint8]  # height × width × 3


class PreviewDecoder:
    def __init__(self, *, vehicle_id: str, width_px: int = 160, height_px: int = 120) -> None:
        self.vehicle_id = vehicle_id
        self.width_px = width_px
        self.height_px = height_px
        self.frames_decoded = 0
        self.latest: PreviewFrame | None = None
        self._decoder: VideoCodecContext | None = None

    def reset(self) -> None:
        self._decoder = None

    def feed(self, unit: AccessUnit) -> None:
        if self._decoder is None:
            if not unit.keyframe:
                return
            self._decoder = VideoCodecContext.create("h264", "r")
        try:
            frames = self._decoder.decode(av.Packet(unit.data))
        except av.FFmpegError:
            self._decoder = None  # damaged: start again at the next keyframe
            return
        for frame in frames:
            small = frame.reformat(width=self.width_px, height=self.height_px, format="rgb24")
            self.frames_decoded += 1
            self.latest = PreviewFrame(
                vehicle_id=self.vehicle_id,
                time_unix_us=unit.time_unix_us,
                rgb=np.asarray(small.to_ndarray(), dtype=np.uint8),
            )
