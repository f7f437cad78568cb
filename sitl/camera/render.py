"""Render what a downward-looking camera sees from a pose.

The ground texture lives on a local tangent plane (east/north metres from an
origin). A frame is one affine map from output pixels to texture pixels
(scale from altitude and field of view, rotation from heading), evaluated with
numpy on precomputed pixel grids and sampled from the mip level whose texel
size best matches the output pixel size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from sitl.camera.errors import CameraConfigError
from sitl.camera.font import text_mask
from sitl.camera.ground import GroundTexture

__all__ = ["CameraPose", "FrameRenderer", "LocalTangentPlane", "footprint_width_m"]

_EARTH_RADIUS_M = 6_378_137.0
_FIX_BITS = 16  # fixed-point fraction bits of texture coordinates
_FIX = 1 << _FIX_BITS
_MIN_ALT_M = 1.0  # on the ground the camera still sees a metre or two of tarmac


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraPose:
    """Where the camera is: WGS-84 position, height above home, heading (0 = north, cw)."""

    lat_deg: float
    lon_deg: float
    rel_alt_m: float
    heading_deg: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat_deg <= 90.0 and -180.0 <= self.lon_deg <= 180.0):
            raise CameraConfigError(
                f"camera pose {self.lat_deg}, {self.lon_deg} is not a WGS-84 position"
            )
        if not (math.isfinite(self.rel_alt_m) and math.isfinite(self.heading_deg)):
            raise CameraConfigError("camera pose altitude and heading must be finite numbers")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalTangentPlane:
    """Equirectangular east/north metres around an origin: exact enough over a city."""

    origin_lat_deg: float
    origin_lon_deg: float

    def to_east_north_m(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        cos_lat = math.cos(math.radians(self.origin_lat_deg))
        east = math.radians(lon_deg - self.origin_lon_deg) * _EARTH_RADIUS_M * cos_lat
        north = math.radians(lat_deg - self.origin_lat_deg) * _EARTH_RADIUS_M
        return east, north


def footprint_width_m(rel_alt_m: float, hfov_deg: float) -> float:
    """Ground width seen across the image from `rel_alt_m` (flat ground, nadir camera)."""
    return 2.0 * max(rel_alt_m, _MIN_ALT_M) * math.tan(math.radians(hfov_deg) / 2.0)


class FrameRenderer:
    """Renders RGB frames of the ground for one camera geometry (size and field of view)."""

    def __init__(
        self,
        *,
        ground: GroundTexture,
        plane: LocalTangentPlane,
        width_px: int = 640,
        height_px: int = 480,
        hfov_deg: float = 84.0,
    ) -> None:
        if width_px < 64 or height_px < 48 or width_px % 2 or height_px % 2:
            raise CameraConfigError(
                f"frame size {width_px}x{height_px} is not usable: use even sizes >= 64x48"
            )
        if not 10.0 <= hfov_deg <= 150.0:
            raise CameraConfigError(f"horizontal field of view {hfov_deg}° is out of 10..150°")
        self.ground = ground
        self.plane = plane
        self.width_px = width_px
        self.height_px = height_px
        self.hfov_deg = hfov_deg
        # Pixel centres relative to the image centre: x right, y forward (up in the image).
        xs = np.arange(width_px, dtype=np.float32) - (width_px - 1) / 2.0
        ys = (height_px - 1) / 2.0 - np.arange(height_px, dtype=np.float32)
        self._xs, self._ys = xs, ys
        # Each texel packed in 32 bits (R, G, B, 0): one gather per pixel instead of three.
        self._packed = [
            np.dstack([level, np.zeros(level.shape[:2], dtype=np.uint8)])
            .view(np.uint32)
            .reshape(-1)
            for level in ground.levels
        ]

    def render(
        self, pose: CameraPose, *, label: str = "", time_unix_us: int | None = None
    ) -> npt.NDArray[np.uint8]:
        """One H×W×3 RGB frame at `pose`, with `label` and the UTC time burned in at the top."""
        return np.ascontiguousarray(
            self.render_rgbx(pose, label=label, time_unix_us=time_unix_us)[..., :3]
        )

    def render_rgbx(
        self, pose: CameraPose, *, label: str = "", time_unix_us: int | None = None
    ) -> npt.NDArray[np.uint8]:
        """The same frame as H×W×4 (RGB and a padding byte), the encoder's cheapest input."""
        east_m, north_m = self.plane.to_east_north_m(pose.lat_deg, pose.lon_deg)
        m_per_out_px = footprint_width_m(pose.rel_alt_m, self.hfov_deg) / self.width_px
        texels = m_per_out_px / self.ground.m_per_px
        level = int(min(max(math.floor(math.log2(max(texels, 1.0))), 0), len(self._packed) - 1))
        size = self.ground.levels[level].shape[0]
        texel_m = self.ground.m_per_px * (1 << level)
        k = m_per_out_px / texel_m
        h = math.radians(pose.heading_deg)
        c, s = math.cos(h) * k, math.sin(h) * k
        # Rotate camera axes into east/north (heading clockwise from north), scale to
        # texels, in 16.16 fixed point. Each of col/row is an outer sum of a per-row and
        # a per-column term; a positive offset (a multiple of the texture size) makes
        # the shift a floor and the power-of-two mask a wrap.
        wrap = size * (1 + math.ceil(k * (self.width_px + self.height_px) / size))
        e_tx = (east_m / texel_m) % size + wrap
        n_tx = (-north_m / texel_m) % size + wrap
        itype = np.int32 if (wrap + size) * _FIX < 2**31 else np.int64
        col = np.add.outer(
            (self._ys * np.float32(s * _FIX)).astype(itype) + int(e_tx * _FIX),
            (self._xs * np.float32(c * _FIX)).astype(itype),
        )
        row = np.add.outer(
            (self._ys * np.float32(-c * _FIX)).astype(itype) + int(n_tx * _FIX),
            (self._xs * np.float32(s * _FIX)).astype(itype),
        )
        mask = size - 1
        col >>= _FIX_BITS
        col &= mask
        row >>= _FIX_BITS
        row &= mask
        row <<= size.bit_length() - 1
        row |= col
        packed = np.take(self._packed[level], row)
        frame: npt.NDArray[np.uint8] = packed.view(np.uint8).reshape(
            self.height_px, self.width_px, 4
        )
        if label or time_unix_us is not None:
            self._burn_in(frame, label, time_unix_us)
        return frame

    def _burn_in(self, frame: npt.NDArray[np.uint8], label: str, time_unix_us: int | None) -> None:
        text = label
        if time_unix_us is not None:
            stamp = datetime.fromtimestamp(time_unix_us / 1e6, UTC)
            text = f"{label}  {stamp:%Y-%m-%d %H:%M:%S}.{stamp.microsecond // 1000:03d}Z".strip()
        mask = text_mask(text, scale=2)
        h = min(mask.shape[0], frame.shape[0] - 8)
        w = min(mask.shape[1], frame.shape[1] - 8)
        band = frame[2 : h + 6, 2 : w + 6, :3]
        band //= 3  # darken behind the text so it reads on any ground
        frame[4 : 4 + h, 4 : 4 + w, :3][mask[:h, :w]] = 255
