"""The selected vehicle's camera as half-block colour cells.

Each terminal cell shows two pixels: the upper one as the foreground of `▀`,
the lower one as its background, so a 32×12 cell widget draws a 32×24
picture. The widget does no I/O: the app sets `image`. It stays hidden until
the first picture arrives, so consoles without video keep their layout; after
that it stays in place (blank between vehicles) instead of re-laying out the
screen at every selection.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from tui.model import PreviewImage

__all__ = ["VideoPreview", "half_block_cells"]

_UPPER_HALF = "▀"


def half_block_cells(rgb: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """Sample `rgb` (H×W×3) down to `height*2` rows × `width` columns (nearest pixel)."""
    rows = max(1, height) * 2
    cols = max(1, width)
    h, w = rgb.shape[0], rgb.shape[1]
    ys = np.minimum((np.arange(rows) + 0.5) * h / rows, h - 1).astype(np.intp)
    xs = np.minimum((np.arange(cols) + 0.5) * w / cols, w - 1).astype(np.intp)
    picked: npt.NDArray[np.uint8] = rgb[ys[:, None], xs[None, :]]
    return picked


class VideoPreview(Widget):
    DEFAULT_CSS = """
    VideoPreview {
        border: round $primary 50%;
        width: 34;
        height: 14;
        max-height: 50%;
        display: none;
    }
    """

    image: reactive[PreviewImage | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "camera"
        self.frames_shown = 0
        self._lines: list[Strip] = []
        self._built_for: tuple[int, int, int] | None = None

    def watch_image(self, image: PreviewImage | None) -> None:
        if image is not None:
            if not self.display:  # the one relayout: the first picture
                self.display = True
            self.border_title = f"camera {image.vehicle_id}"
            self.frames_shown += 1
        else:
            self.border_title = "camera: no picture"
        self._built_for = None

    def _build(self) -> None:
        image = self.image
        width, height = self.size.width, self.size.height
        key = (id(image), width, height)
        if key == self._built_for:
            return
        self._built_for = key
        self._lines = []
        if image is None or width <= 0 or height <= 0:
            return
        # Keep the picture's aspect (a cell is two square-ish pixels): when the pane is
        # short (80×24), draw it narrower and centred rather than stretched.
        h_px, w_px = image.rgb.shape[0], image.rgb.shape[1]
        pic_w = max(1, min(width, round(height * 2 * w_px / h_px)))
        pad = (width - pic_w) // 2
        left = [Segment(" " * pad)] if pad else []
        right = [Segment(" " * (width - pic_w - pad))] if width - pic_w - pad else []
        pixels = half_block_cells(image.rgb, pic_w, height)
        for row in range(height):
            top, bottom = pixels[2 * row], pixels[2 * row + 1]
            cells = [
                Segment(
                    _UPPER_HALF,
                    Style(
                        color=Color.from_rgb(*map(int, top[x])),
                        bgcolor=Color.from_rgb(*map(int, bottom[x])),
                    ),
                )
                for x in range(pic_w)
            ]
            self._lines.append(Strip([*left, *cells, *right], width))

    def render_line(self, y: int) -> Strip:
        self._build()
        if 0 <= y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width)
