"""A braille dot canvas: 2×4 dots per terminal cell, one style per cell.

Lines and polygons go down as dots; markers (vehicles, home, incidents) go on
top as whole glyphs. Pure and Textual-free so it is cheap to test and to bench.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text

__all__ = ["BrailleCanvas"]

_BRAILLE_BASE = 0x2800
# Bit for dot (x, y) within a cell, x in 0..1, y in 0..3 (Unicode braille order).
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


class BrailleCanvas:
    """A width×height-cell canvas addressed in dots (2·width × 4·height)."""

    __slots__ = ("_bits", "_glyphs", "_styles", "height", "width")

    def __init__(self, width: int, height: int) -> None:
        self.width = max(0, width)
        self.height = max(0, height)
        cells = self.width * self.height
        self._bits = bytearray(cells)
        self._styles: list[Style | None] = [None] * cells
        self._glyphs: dict[int, tuple[str, Style]] = {}

    @property
    def dot_width(self) -> int:
        return self.width * 2

    @property
    def dot_height(self) -> int:
        return self.height * 4

    def dot(self, x: int, y: int, style: Style) -> None:
        if 0 <= x < self.width * 2 and 0 <= y < self.height * 4:
            cell = (y >> 2) * self.width + (x >> 1)
            self._bits[cell] |= _DOT_BITS[x & 1][y & 3]
            self._styles[cell] = style

    def line(self, x0: float, y0: float, x1: float, y1: float, style: Style) -> None:
        """Bresenham between dot coordinates, clipped to a margin around the canvas."""
        ix0, iy0, ix1, iy1 = round(x0), round(y0), round(x1), round(y1)
        limit = 4 * (self.dot_width + self.dot_height) + 64
        if max(abs(ix0), abs(iy0), abs(ix1), abs(iy1)) > limit:
            ix0, iy0, ix1, iy1 = _clip(ix0, iy0, ix1, iy1, limit)
        dx, dy = abs(ix1 - ix0), -abs(iy1 - iy0)
        sx = 1 if ix0 < ix1 else -1
        sy = 1 if iy0 < iy1 else -1
        err = dx + dy
        x, y = ix0, iy0
        while True:
            self.dot(x, y, style)
            if x == ix1 and y == iy1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x += sx
            if e2 <= dx:
                err += dx
                y += sy

    def polyline(
        self, points: Sequence[tuple[float, float]], style: Style, *, closed: bool = False
    ) -> None:
        for a, b in itertools.pairwise(points):
            self.line(a[0], a[1], b[0], b[1], style)
        if closed and len(points) > 2:
            self.line(points[-1][0], points[-1][1], points[0][0], points[0][1], style)

    def glyph(self, x_dot: float, y_dot: float, char: str, style: Style) -> None:
        """A whole-cell marker at the cell containing a dot position."""
        x, y = round(x_dot), round(y_dot)  # the same dot a line through here would set
        col, row = x // 2, y // 4
        if x >= 0 and y >= 0 and col < self.width and row < self.height:
            self._glyphs[row * self.width + col] = (char, style)

    def text(self, col: int, row: int, label: str, style: Style) -> None:
        """A label starting at a cell; cut at the right edge."""
        if not 0 <= row < self.height:
            return
        for i, char in enumerate(label):
            if 0 <= col + i < self.width:
                self._glyphs[row * self.width + col + i] = (char, style)

    def rows(self) -> list[Text]:
        """One Rich Text per row, runs of equal style merged."""
        out: list[Text] = []
        width = self.width
        for row in range(self.height):
            text = Text(no_wrap=True, overflow="crop", end="")
            run: list[str] = []
            run_style: Style | None = None
            base = row * width
            for col in range(width):
                cell = base + col
                glyph = self._glyphs.get(cell)
                style: Style | None
                if glyph is not None:
                    char, style = glyph
                else:
                    bits = self._bits[cell]
                    char = chr(_BRAILLE_BASE + bits) if bits else " "
                    style = self._styles[cell] if bits else None
                if style is not run_style and run:
                    text.append("".join(run), run_style)
                    run = []
                run_style = style
                run.append(char)
            if run:
                text.append("".join(run), run_style)
            out.append(text)
        return out

    def plain_rows(self) -> list[str]:
        return [t.plain for t in self.rows()]


def _clip(x0: int, y0: int, x1: int, y1: int, limit: int) -> tuple[int, int, int, int]:
    """Pull far-away endpoints in along the segment so drawing stays bounded."""

    def pull(ax: int, ay: int, bx: int, by: int) -> tuple[int, int]:
        m = max(abs(ax), abs(ay))
        if m <= limit:
            return ax, ay
        # Binary search the segment parameter where the point enters the limit box.
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            px, py = ax + (bx - ax) * mid, ay + (by - ay) * mid
            if max(abs(px), abs(py)) > limit:
                lo = mid
            else:
                hi = mid
        return round(ax + (bx - ax) * hi), round(ay + (by - ay) * hi)

    nx0, ny0 = pull(x0, y0, x1, y1)
    nx1, ny1 = pull(x1, y1, x0, y0)
    return nx0, ny0, nx1, ny1
