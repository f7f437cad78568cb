"""The fleet at a glance: one row per vehicle, alerts coloured.

Attributes down: the screen sets `vehicles`; each row is turned into a ready
strip once, when its text changes, and a frame only copies strips — so fifty
vehicles streaming cost little per repaint (Textual's DataTable redraws every
cell of the table whenever one changes, which at fifty vehicles took longer
than a frame). The cursor row is the selected vehicle; a `Selected` message
goes up when it changes.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Console
from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from tui.model import BATTERY_CRITICAL_PCT, BATTERY_LOW_PCT, GPS_MIN_SATELLITES, VehicleView

__all__ = ["COLUMNS", "FleetTable", "progress_bar", "short_mode"]

# (key, label, width): fixed widths so columns never jump as values change; the
# whole table fits 80 columns.
COLUMNS = (
    ("vehicle", "Vehicle", 9),
    ("mode", "Mode", 8),
    ("armed", "Arm", 3),
    ("battery", "Battery", 8),
    ("alt", "Alt m", 5),
    ("speed", "m/s", 4),
    ("gps", "GPS", 5),
    ("link", "Link", 4),
    ("sortie", "Sortie", 11),
)
_KEYS = tuple(c[0] for c in COLUMNS)


def short_mode(mode: str) -> str:
    """PX4 mode names without the "AUTO." prefix, which fills a narrow column."""
    return mode.removeprefix("AUTO.")


def progress_bar(fraction: float | None, width: int = 5) -> str:
    if fraction is None:
        return ""
    filled = round(fraction * width)
    return "▰" * filled + "▱" * (width - filled)


def cells(v: VehicleView) -> tuple[Text, ...]:
    """The row's cells, coloured where the operator must look."""
    mode = Text(short_mode(v.mode))
    if "RTL" in v.mode or "LAND" in v.mode:
        mode.stylize("bold magenta")
    armed = Text("ARM", style="bold yellow") if v.armed else Text("-", style="dim")
    if v.battery_pct is None:
        battery = Text("?", style="dim")
    else:
        left = f" {v.battery_min_left:.0f}m" if v.battery_min_left is not None else ""
        battery = Text(f"{v.battery_pct:3.0f}%{left}")
        if v.battery_pct <= BATTERY_CRITICAL_PCT:
            battery.stylize("bold white on red")
        elif v.battery_pct <= BATTERY_LOW_PCT:
            battery.stylize("bold yellow")
    alt = Text(f"{v.rel_alt_m:5.1f}" if v.rel_alt_m is not None else "", justify="right")
    speed = Text(
        f"{v.ground_speed_m_s:4.1f}" if v.ground_speed_m_s is not None else "", justify="right"
    )
    if v.gps_fix is None:
        gps = Text("?", style="dim")
    else:
        fix = {0: "--", 1: "--", 2: "2D", 3: "3D", 4: "DG", 5: "RF", 6: "RX"}.get(v.gps_fix, "3D")
        gps = Text(f"{fix} {v.satellites or 0:2d}")
        if v.gps_fix < 3 or (v.satellites or 0) < GPS_MIN_SATELLITES:
            gps.stylize("bold yellow")
    if not v.link_ok:
        link = Text("LOST", style="bold white on red")
    elif v.link_loss_pct is not None:
        link = Text(f"{100.0 - v.link_loss_pct:3.0f}%")
        if v.link_loss_pct > 20.0:
            link.stylize("yellow")
    else:
        link = Text("ok")
    if v.mission_total:
        sortie = Text(f"{v.mission_seq or 0}/{v.mission_total} {progress_bar(v.progress)}")
    else:
        sortie = Text(v.sortie or "", style="dim")
    return (Text(v.vehicle_id, style="bold"), mode, armed, battery, alt, speed, gps, link, sortie)


def _line(texts: tuple[Text, ...]) -> list[Segment]:
    """Cells padded or cut to their column, one space either side (DataTable's look)."""
    segments: list[Segment] = []
    for text, (_, _, width) in zip(texts, COLUMNS, strict=True):
        plain = text.plain
        if len(plain) > width:
            text = text[:width]
        pad = width - len(text.plain)
        left = pad if text.justify == "right" else 0
        segments.append(Segment(" " * (1 + left)))
        segments.extend(text.render(_CONSOLE))
        segments.append(Segment(" " * (1 + pad - left)))
    return segments


def _make_console() -> Console:
    """Rich needs a console only to resolve styles into segments; one will do."""
    return Console(width=200, color_system="truecolor", legacy_windows=False)


_CONSOLE = _make_console()


class FleetTable(Widget, can_focus=True):
    """One row per vehicle under a fixed header; the cursor row is the selected vehicle."""

    DEFAULT_CSS = """
    FleetTable {
        height: auto;
        max-height: 40%;
        width: 1fr;
    }
    FleetTable > .fleet-table--header {
        text-style: bold;
        color: $foreground;
        background: $panel;
    }
    FleetTable > .fleet-table--cursor {
        background: $block-cursor-blurred-background;
    }
    FleetTable:focus > .fleet-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    FleetTable > .fleet-table--even {
        background: $surface-lighten-1 40%;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "fleet-table--header",
        "fleet-table--cursor",
        "fleet-table--even",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-10)", "Page up", show=False),
        Binding("pagedown", "cursor(10)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
    ]

    vehicles: reactive[tuple[VehicleView, ...]] = reactive((), always_update=True)
    cursor_row: reactive[int] = reactive(0)

    class Selected(Message):
        """The cursor moved to another vehicle."""

        def __init__(self, vehicle_id: str | None) -> None:
            super().__init__()
            self.vehicle_id = vehicle_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._order: list[str] = []
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._plain: dict[str, tuple[str, ...]] = {}
        self._strips: dict[str, list[Segment]] = {}
        self._top = 0  # first row shown

    # ------------------------------------------------------------ the API tests and screens use
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def selected_vehicle_id(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def select_vehicle(self, vehicle_id: str) -> None:
        if vehicle_id in self._order:
            self.cursor_row = self._order.index(vehicle_id)

    def get_cell(self, vehicle_id: str, column: str) -> Text:
        return self._cells[vehicle_id][_KEYS.index(column)]

    # ------------------------------------------------------------ state
    def watch_vehicles(self, vehicles: tuple[VehicleView, ...]) -> None:
        before = self.selected_vehicle_id
        order = [v.vehicle_id for v in vehicles]
        grew = len(order) != len(self._order)
        changed = order != self._order
        for gone in set(self._order) - set(order):
            self._cells.pop(gone, None)
            self._plain.pop(gone, None)
            self._strips.pop(gone, None)
        for v in vehicles:
            row = cells(v)
            plain = tuple(c.plain + str(c.style) + str(c.spans) for c in row)
            if self._plain.get(v.vehicle_id) != plain:
                self._cells[v.vehicle_id] = row
                self._plain[v.vehicle_id] = plain
                self._strips[v.vehicle_id] = _line(row)
                changed = True
        self._order = order
        if before in order and order.index(before) != self.cursor_row:
            self.cursor_row = order.index(before)  # the selection follows its vehicle
        if changed:
            self.refresh(layout=grew)  # a new row changes the table's height
        if before is None and order:
            self.post_message(self.Selected(self.selected_vehicle_id))

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        if old != new:
            self.post_message(self.Selected(self.selected_vehicle_id))

    def validate_cursor_row(self, row: int) -> int:
        return max(0, min(row, len(self._order) - 1)) if self._order else 0

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        if self.cursor_row < self._top:
            self._top = self.cursor_row
        elif self.cursor_row >= self._top + visible:
            self._top = self.cursor_row - visible + 1

    def action_cursor(self, delta: int) -> None:
        self.cursor_row = self.cursor_row + delta

    def action_cursor_to(self, row: int) -> None:
        self.cursor_row = row if row >= 0 else len(self._order) - 1

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.cursor_row = self._top + event.y - 1

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    # ------------------------------------------------------------ drawing
    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._order) + 1

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            header = self.get_component_rich_style("fleet-table--header")
            texts = tuple(Text(label) for _, label, _ in COLUMNS)
            return Strip(_line(texts)).apply_style(header).extend_cell_length(width, header)
        index = self._top + y - 1
        if index >= len(self._order):
            return Strip.blank(width, self.rich_style)
        segments = self._strips[self._order[index]]
        if index == self.cursor_row:
            style = self.get_component_rich_style("fleet-table--cursor")
        elif index % 2:
            style = self.rich_style + self.get_component_rich_style("fleet-table--even")
        else:
            style = self.rich_style
        return Strip(segments).apply_style(style).extend_cell_length(width, style)
