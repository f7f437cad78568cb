"""Writing access units into MP4 without re-encoding (PyAV remux), and hashing files.

Timestamps are the capture times (90 kHz ticks from the first unit), so a file
made of units from before and after a stream gap shows the gap as a pause, and
an incident's instant maps to a position in the clip.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext
from av.container import OutputContainer
from av.stream import Stream

from telemetry.video.depacketize import AccessUnit
from telemetry.video.errors import VideoError

__all__ = ["Mp4Writer", "frame_size", "read_units", "sha256_file", "write_clip"]

_TB = Fraction(1, 90_000)
# Live segments: one fragment per frame, written through at once, so a frame is
# in the file within milliseconds and a crash loses at most the frame in flight.
_LIVE_FLAGS = "empty_moov+default_base_moof+frag_every_frame"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def frame_size(keyframe: AccessUnit) -> tuple[int, int]:
    """Width and height of the picture, from decoding one keyframe (once per source)."""
    ctx = av.CodecContext.create("h264", "r")
    try:
        for frame in ctx.decode(av.Packet(keyframe.data)):
            return int(frame.width), int(frame.height)
        for frame in ctx.decode(None):
            return int(frame.width), int(frame.height)
    except av.FFmpegError as exc:
        raise VideoError(
            f"the camera's keyframe does not decode ({exc}): check the encoder"
        ) from exc
    raise VideoError("the camera's keyframe does not decode to a picture: check the encoder")


class Mp4Writer:
    """One MP4 file being written; timestamps relative to its first unit."""

    def __init__(
        self, path: Path, *, width: int, height: int, live: bool, metadata: dict[str, str]
    ) -> None:
        self.path = path
        options = (
            {"movflags": _LIVE_FLAGS, "flush_packets": "1"} if live else {"movflags": "+faststart"}
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container: OutputContainer = av.open(str(path), "w", format="mp4", options=options)
        self._container.metadata.update(metadata)
        self._stream: Stream = self._container.add_mux_stream(
            "h264", rate=None, width=width, height=height
        )
        self.first_us: int | None = None
        self.last_us: int | None = None
        self._last_pts = -1
        self.units = 0

    def write(self, unit: AccessUnit, *, duration_us: int | None = None) -> None:
        """Add one unit. Without `duration_us` it is assumed to last as long as the one
        before (the last sample of an MP4 needs a duration, or players drop it)."""
        if self.first_us is None:
            self.first_us = unit.time_unix_us
        pts = (unit.time_unix_us - self.first_us) * 90_000 // 1_000_000
        pts = max(pts, self._last_pts + 1)  # the muxer needs strictly increasing times
        packet = av.Packet(unit.data)
        packet.stream = self._stream
        packet.time_base = _TB
        packet.pts = packet.dts = pts
        if duration_us is not None:
            packet.duration = max(1, duration_us * 90_000 // 1_000_000)
        elif self._last_pts >= 0:
            packet.duration = pts - self._last_pts
        packet.is_keyframe = unit.keyframe
        self._container.mux(packet)
        self._last_pts = pts
        self.last_us = unit.time_unix_us
        self.units += 1

    def close(self) -> None:
        self._container.close()


def write_clip(path: Path, units: Sequence[AccessUnit], *, metadata: dict[str, str]) -> str:
    """Write `units` (starting with a keyframe) as a standalone MP4; returns its SHA-256."""
    width, height = frame_size(units[0])
    start = datetime.fromtimestamp(units[0].time_unix_us / 1e6, UTC)
    meta = {"creation_time": start.isoformat().replace("+00:00", "Z"), **metadata}
    writer = Mp4Writer(path, width=width, height=height, live=False, metadata=meta)
    try:
        for unit, after in itertools.pairwise(units):
            writer.write(unit, duration_us=after.time_unix_us - unit.time_unix_us)
        last_gap = units[-1].time_unix_us - units[-2].time_unix_us if len(units) > 1 else 66_667
        writer.write(units[-1], duration_us=last_gap)
    finally:
        writer.close()
    return sha256_file(path)


def read_units(path: Path, *, start_us: int) -> list[AccessUnit]:
    """The access units of a recorded segment (Annex B again), timed from `start_us`."""
    units: list[AccessUnit] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        to_annexb = BitStreamFilterContext("h264_mp4toannexb", in_stream=stream)
        tb = stream.time_base
        first_pts: int | None = None
        packets = [p for p in container.demux(stream) if p.size]
        for packet in [q for p in packets for q in to_annexb.filter(p)] + to_annexb.filter(None):
            if packet.pts is None or tb is None:
                continue
            first_pts = packet.pts if first_pts is None else first_pts
            units.append(
                AccessUnit(
                    time_unix_us=start_us + round((packet.pts - first_pts) * tb * 1_000_000),
                    keyframe=bool(packet.is_keyframe),
                    data=bytes(packet),
                    ssrc=0,
                    arrival_mono_s=0.0,
                )
            )
    return units
