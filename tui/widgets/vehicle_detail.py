"""The selected vehicle in detail: live telemetry, progress and its own messages."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.model import StatusText, VehicleView, alerts_for
from tui.widgets.fleet_table import progress_bar, short_mode

__all__ = ["VehicleDetail"]

_SEVERITY_STYLE = {0: "bold red", 1: "bold red", 2: "bold red", 3: "red", 4: "yellow"}


def _num(value: float | None, fmt: str, unit: str) -> str:
    return "?" if value is None else f"{value:{fmt}}{unit}"


class VehicleDetail(Widget):
    """Key/value panel; `vehicle` and `texts` are set by the screen."""

    DEFAULT_CSS = """
    VehicleDetail {
        border: round $primary 50%;
        width: 34;
        height: 1fr;
        padding: 0 1;
    }
    """

    vehicle: reactive[VehicleView | None] = reactive(None)
    texts: reactive[tuple[StatusText, ...]] = reactive(())

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Vehicle"

    def render(self) -> Table | Text:
        v = self.vehicle
        if v is None:
            return Text("No vehicle selected.\nUse ↑/↓ in the fleet table.", style="dim")
        self.border_title = v.vehicle_id
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True, width=7)
        grid.add_column(overflow="fold")
        grid.add_row("mode", f"{short_mode(v.mode)} {'ARMED' if v.armed else 'disarmed'}")
        grid.add_row("state", v.landed_state.lower().replace("_", " "))
        grid.add_row(
            "alt/spd",
            f"{_num(v.rel_alt_m, '.1f', ' m')}  {_num(v.ground_speed_m_s, '.1f', ' m/s')}",
        )
        grid.add_row("heading", _num(v.heading_deg, ".0f", "°"))
        if v.lat_deg is not None and v.lon_deg is not None:
            grid.add_row("pos", f"{v.lat_deg:.5f} {v.lon_deg:.5f}")
        grid.add_row(
            "battery",
            f"{_num(v.battery_pct, '.0f', '%')}  {_num(v.battery_min_left, '.0f', ' min')}",
        )
        grid.add_row(
            "gps",
            f"fix {v.gps_fix if v.gps_fix is not None else '?'}, "
            f"{v.satellites if v.satellites is not None else '?'} sat",
        )
        link = "LOST" if not v.link_ok else _num(v.link_rate_hz, ".0f", " msg/s")
        grid.add_row("link", link)
        if v.mission_total:
            grid.add_row(
                "sortie",
                f"{v.mission_seq or 0}/{v.mission_total} {progress_bar(v.progress, 8)}",
            )
        if v.sortie:
            grid.add_row("", v.sortie)
        for alert in alerts_for(v):
            grid.add_row(Text("alert", style="bold red"), Text(alert.text, style="bold"))
        for st in self.texts[-4:]:
            grid.add_row(
                Text("msg", style="dim"), Text(st.text, style=_SEVERITY_STYLE.get(st.severity, ""))
            )
        return grid
