"""The fleet at a glance: one row per vehicle, alerts coloured.

Attributes down: the screen sets `vehicles`; only cells whose text changed are
touched, so a fleet of fifty costs little per refresh. The highlighted row is
the selected vehicle (Textual's own `RowHighlighted` message goes up).
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from tui.model import BATTERY_CRITICAL_PCT, BATTERY_LOW_PCT, GPS_MIN_SATELLITES, VehicleView

__all__ = ["FleetTable", "progress_bar", "short_mode"]

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


def short_mode(mode: str) -> str:
    """PX4 mode names without the "AUTO." prefix, which fills a narrow column."""
    return mode.removeprefix("AUTO.")


def progress_bar(fraction: float | None, width: int = 5) -> str:
    if fraction is None:
        return ""
    filled = round(fraction * width)
    return "▰" * filled + "▱" * (width - filled)


def _cells(v: VehicleView) -> tuple[Text, ...]:
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


class FleetTable(DataTable[Text]):
    """One row per vehicle; cursor row = selected vehicle."""

    DEFAULT_CSS = """
    FleetTable {
        height: auto;
        max-height: 40%;
    }
    """

    vehicles: reactive[tuple[VehicleView, ...]] = reactive((), always_update=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def selected_vehicle_id(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return key.value

    def select_vehicle(self, vehicle_id: str) -> None:
        try:
            self.move_cursor(row=self.get_row_index(vehicle_id))
        except RowDoesNotExist:
            return

    def watch_vehicles(self, vehicles: tuple[VehicleView, ...]) -> None:
        if not self.is_mounted or not self.columns:
            return
        wanted = {v.vehicle_id for v in vehicles}
        for gone in [k for k in self._shown if k not in wanted]:
            self.remove_row(gone)
            del self._shown[gone]
        for v in vehicles:
            cells = _cells(v)
            plain = tuple(c.plain + str(c.style) for c in cells)
            before = self._shown.get(v.vehicle_id)
            if before is None:
                self.add_row(*cells, key=v.vehicle_id)
            elif before != plain:
                for (key, _, _), cell, old, new in zip(COLUMNS, cells, before, plain, strict=True):
                    if old != new:
                        self.update_cell(v.vehicle_id, key, cell)
            self._shown[v.vehicle_id] = plain
