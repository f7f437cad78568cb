"""H.264 encoding for the simulated camera (libx264 through PyAV).

Low-latency settings (ultrafast, zerolatency: no B-frames, no lookahead),
parameter sets repeated before every IDR so a receiver can join or rejoin at
any keyframe, and a keyframe forced every `gop_s` of *sim* time so an
evidence clip can start within one GOP of any instant even when the camera
drops frames under speedup.

Each access unit carries the frame's capture time in a "user data
unregistered" SEI message (the practice of MISB ST 0604 precision time
stamps): 16-byte UUID `TIMESTAMP_SEI_UUID`, then the capture time as unsigned
64-bit big-endian microseconds since the Unix epoch. The recorder reads it, so
recorded times follow the camera's clock, not network arrival.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt

from sitl.camera.errors import CameraConfigError

__all__ = [
    "TIMESTAMP_SEI_UUID",
    "EncodedFrame",
    "H264Encoder",
    "split_nal_units",
    "timestamp_sei",
]

TIMESTAMP_SEI_UUID = uuid.UUID("5d0f3c2e-8a61-4f0e-9b7d-64726f6e6f70").bytes
RTP_CLOCK_HZ = 90_000
_NAL_SEI = 6
_VCL_TYPES = (1, 5)


def split_nal_units(annexb: bytes) -> list[bytes]:
    """NAL units (without start codes) of an Annex B byte stream."""
    units: list[bytes] = []
    starts: list[tuple[int, int]] = []  # (start code position, payload position)
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0:
        begin = i - 1 if i > 0 and annexb[i - 1] == 0 else i
        starts.append((begin, i + 3))
        i = annexb.find(b"\x00\x00\x01", i + 3)
    for n, (_, payload) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(annexb)
        if end > payload:
            units.append(annexb[payload:end])
    return units


def _escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes (0x03 after 00 00 when the next byte is <= 3)."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def timestamp_sei(time_unix_us: int) -> bytes:
    """One SEI NAL unit (no start code) carrying `time_unix_us`."""
    payload = TIMESTAMP_SEI_UUID + struct.pack(">Q", time_unix_us)
    rbsp = bytes([5, len(payload)]) + payload + b"\x80"  # type 5, size, data, stop bit
    return bytes([_NAL_SEI]) + _escape(rbsp)


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedFrame:
    """One access unit as NAL units, ready for RTP packetization."""

    time_unix_us: int
    rtp_timestamp: int
    keyframe: bool
    nal_units: tuple[bytes, ...]

    @property
    def size_bytes(self) -> int:
        return sum(len(n) for n in self.nal_units)


class H264Encoder:
    """Encodes RGB frames to H.264 access units stamped with their capture time."""

    def __init__(
        self,
        *,
        width_px: int,
        height_px: int,
        fps: float,
        gop_s: float = 1.0,
        crf: int = 28,
        max_kbit_s: int = 2500,
    ) -> None:
        if not 0.5 <= fps <= 60:
            raise CameraConfigError(f"camera rate {fps} fps is out of 0.5..60")
        if not 0.1 <= gop_s <= 10:
            raise CameraConfigError(f"keyframe interval {gop_s} s is out of 0.1..10 s")
        self.gop_s = gop_s
        keyint = max(1, round(fps * gop_s))
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width = width_px
        ctx.height = height_px
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, RTP_CLOCK_HZ)
        ctx.framerate = Fraction(fps).limit_denominator(1000)
        ctx.gop_size = keyint
        ctx.max_b_frames = 0
        ctx.thread_count = 1  # one core per camera at most; the machine is shared
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "crf": str(crf),
            "forced-idr": "1",
            "x264-params": (
                f"keyint={keyint}:min-keyint={keyint}:scenecut=0:repeat-headers=1:"
                f"vbv-maxrate={max_kbit_s}:vbv-bufsize={max_kbit_s // 2}"
            ),
        }
        self._ctx = ctx
        self._first_us: int | None = None
        self._last_key_us: int | None = None
        self._rtp_base = int.from_bytes(uuid.uuid4().bytes[:4], "big")
        self._pending_us: dict[int, int] = {}  # pts -> capture time, until the packet is out

    def encode(self, rgb: npt.NDArray[np.uint8], *, time_unix_us: int) -> list[EncodedFrame]:
        """Encode one H×W×3 RGB (or H×W×4 RGB+pad) frame captured at `time_unix_us`."""
        if self._first_us is None:
            self._first_us = time_unix_us
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24" if rgb.shape[2] == 3 else "rgba")
        frame.pts = (time_unix_us - self._first_us) * RTP_CLOCK_HZ // 1_000_000
        self._pending_us[frame.pts] = time_unix_us
        if self._last_key_us is None or time_unix_us - self._last_key_us >= self.gop_s * 1e6:
            frame.pict_type = av.video.frame.PictureType.I
            self._last_key_us = time_unix_us
        out: list[EncodedFrame] = []
        for packet in self._ctx.encode(frame):
            pts = int(packet.pts or 0)
            at_us = self._pending_us.pop(pts, self._first_us + pts * 1_000_000 // RTP_CLOCK_HZ)
            nals = split_nal_units(bytes(packet))
            at = next((i for i, n in enumerate(nals) if n[0] & 0x1F in _VCL_TYPES), len(nals))
            nals.insert(at, timestamp_sei(at_us))
            out.append(
                EncodedFrame(
                    time_unix_us=at_us,
                    rtp_timestamp=(self._rtp_base + pts) & 0xFFFFFFFF,
                    keyframe=bool(packet.is_keyframe),
                    nal_units=tuple(nals),
                )
            )
        return out
