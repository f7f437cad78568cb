"""Procedural ground the simulated camera looks down at.

One square RGB texture per seed (roads, buildings, trees, water on grass),
tileable so it covers any flight area by wrapping, plus a mip pyramid so a
camera high up samples a pre-averaged level instead of aliasing. Built once per
seed (about half a second); every frame afterwards is an index lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sitl.camera.errors import CameraConfigError

__all__ = ["GroundTexture"]

Rgb = npt.NDArray[np.uint8]

_GRASS = np.array([78, 112, 54], dtype=np.float32)
_DRY_GRASS = np.array([128, 126, 78], dtype=np.float32)
_WATER = np.array([38, 72, 118], dtype=np.uint8)
_ROAD = np.array([88, 88, 92], dtype=np.uint8)
_MARKING = np.array([225, 225, 215], dtype=np.uint8)
_TREE = np.array([34, 78, 36], dtype=np.uint8)
_ROOFS = np.array(
    [[150, 72, 58], [120, 120, 126], [170, 160, 150], [96, 70, 60], [200, 196, 188]],
    dtype=np.uint8,
)


def _tileable_noise(rng: np.random.Generator, size: int, cells: int) -> npt.NDArray[np.float32]:
    """Value noise in [0, 1] that wraps at the edges (bilinear over a periodic grid)."""
    grid = rng.random((cells, cells), dtype=np.float32)
    step = size // cells
    t = ((np.arange(size) % step) / step).astype(np.float32)
    t = t * t * (3 - 2 * t)  # smoothstep: no visible grid creases
    i0 = np.arange(size) // step
    i1 = (i0 + 1) % cells
    rows0, rows1 = grid[i0], grid[i1]  # (size, cells)
    a = rows0[:, i0] * (1 - t) + rows0[:, i1] * t
    b = rows1[:, i0] * (1 - t) + rows1[:, i1] * t
    out = (a * (1 - t[:, None]) + b * t[:, None]).astype(np.float32)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class GroundTexture:
    """A wrapping ground texture and its mip levels (level 0 is full resolution)."""

    seed: int
    m_per_px: float
    levels: tuple[Rgb, ...]

    @property
    def size_px(self) -> int:
        return int(self.levels[0].shape[0])

    @classmethod
    def generate(cls, *, seed: int, size_px: int = 2048, m_per_px: float = 0.5) -> GroundTexture:
        """Build the ground for `seed`: the same seed gives the same bytes on every machine."""
        if size_px < 256 or size_px & (size_px - 1):
            raise CameraConfigError(
                f"ground size {size_px} px is not a power of two >= 256: pick e.g. 2048"
            )
        if not 0.05 <= m_per_px <= 5.0:
            raise CameraConfigError(
                f"ground resolution {m_per_px} m/px is out of range: use 0.05..5"
            )
        rng = np.random.default_rng(seed)
        n = size_px
        px_per_m = 1.0 / m_per_px

        # Grass with patches of dry grass.
        mix = _tileable_noise(rng, n, 16) * 0.7 + _tileable_noise(rng, n, 64) * 0.3
        img = (_GRASS[None, None, :] * (1 - mix[..., None]) + _DRY_GRASS * mix[..., None]).astype(
            np.uint8
        )
        occupied = np.zeros((n, n), dtype=bool)

        # Water: the low places of a coarse noise field.
        water = _tileable_noise(rng, n, 8) > 0.78
        img[water] = _WATER
        occupied |= water

        # Roads: a jittered grid every 90..180 m, 7..12 m wide, with a centre line.
        road = np.zeros((n, n), dtype=bool)
        marking = np.zeros((n, n), dtype=bool)
        for axis in (0, 1):
            pos = float(rng.uniform(0, n))
            while pos < n * 2:
                width = int(rng.uniform(7, 12) * px_per_m)
                start = int(pos)
                idx = np.arange(start, start + width) % n
                mid = np.array([(start + width // 2) % n])
                dashes = (np.arange(n) // max(1, int(3 * px_per_m))) % 2 == 0
                if axis == 0:
                    road[idx, :] = True
                    marking[np.ix_(mid, np.nonzero(dashes)[0])] = True
                else:
                    road[:, idx] = True
                    marking[np.ix_(np.nonzero(dashes)[0], mid)] = True
                pos += rng.uniform(90, 180) * px_per_m
                if pos >= n:
                    break
        img[road] = _ROAD
        img[marking & road] = _MARKING
        occupied |= road

        # Buildings: rectangles in the blocks, with a dark shadow edge on the south-east.
        for _ in range(int(n * n * m_per_px * m_per_px / 1800)):
            w = int(rng.uniform(8, 30) * px_per_m)
            h = int(rng.uniform(8, 24) * px_per_m)
            r0, c0 = int(rng.integers(0, n)), int(rng.integers(0, n))
            rows = np.arange(r0, r0 + h + 3) % n
            cols = np.arange(c0, c0 + w + 3) % n
            if occupied[np.ix_(rows, cols)].any():
                continue
            occupied[np.ix_(rows, cols)] = True
            img[np.ix_(rows, cols)] = (img[np.ix_(rows, cols)] * 0.45).astype(np.uint8)
            roof = _ROOFS[int(rng.integers(0, len(_ROOFS)))]
            img[np.ix_(rows[:h], cols[:w])] = roof
            ridge = rows[h // 2 : h // 2 + 1]
            img[np.ix_(ridge, cols[:w])] = (roof * 0.8).astype(np.uint8)

        # Trees: dark green disks on free grass.
        radius_px = max(2, int(2.5 * px_per_m))
        yy, xx = np.mgrid[-radius_px : radius_px + 1, -radius_px : radius_px + 1]
        disk = (yy * yy + xx * xx) <= radius_px * radius_px
        for _ in range(int(n * n * m_per_px * m_per_px / 350)):
            r0, c0 = int(rng.integers(0, n)), int(rng.integers(0, n))
            rows = np.arange(r0 - radius_px, r0 + radius_px + 1) % n
            cols = np.arange(c0 - radius_px, c0 + radius_px + 1) % n
            block = occupied[np.ix_(rows, cols)]
            if block[disk].any():
                continue
            patch = img[np.ix_(rows, cols)]
            shade = _TREE * float(rng.uniform(0.8, 1.2))
            patch[disk] = np.clip(shade, 0, 255).astype(np.uint8)
            img[np.ix_(rows, cols)] = patch

        levels = [img]
        while levels[-1].shape[0] > 64:
            prev = levels[-1].astype(np.uint16)
            half = (prev[0::2, 0::2] + prev[1::2, 0::2] + prev[0::2, 1::2] + prev[1::2, 1::2]) // 4
            levels.append(half.astype(np.uint8))
        for level in levels:
            level.setflags(write=False)
        return cls(seed=seed, m_per_px=m_per_px, levels=tuple(levels))
