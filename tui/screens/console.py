"""The main screen: fleet table on top, map and the selected vehicle below, alerts, footer."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header

from tui.model import FleetModel
from tui.widgets.alert_bar import AlertBar
from tui.widgets.fleet_map import FleetMap, MapScene
from tui.widgets.fleet_table import FleetTable
from tui.widgets.vehicle_detail import VehicleDetail
from tui.widgets.video_preview import VideoPreview

__all__ = ["ConsoleScreen"]


class ConsoleScreen(Screen[None]):
    DEFAULT_CSS = """
    ConsoleScreen #lower {
        height: 1fr;
    }
    ConsoleScreen #side {
        width: 34;
        height: 1fr;
    }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield FleetTable(id="fleet")
        with Horizontal(id="lower"):
            yield FleetMap(id="map")
            with Vertical(id="side"):
                yield VehicleDetail(id="detail")
                yield VideoPreview(id="video")
        yield AlertBar(id="alerts")
        yield Footer(compact=True)

    def show_table(self, model: FleetModel) -> None:
        """Copy the fleet into the table (paced by the app: it is the costly repaint)."""
        tables = self.query(FleetTable)
        if tables:
            tables.first().vehicles = model.vehicle_list()

    @property
    def selected_vehicle_id(self) -> str | None:
        tables = self.query(FleetTable)  # empty before compose and after unmount
        return tables.first().selected_vehicle_id if tables else None

    def show(self, model: FleetModel) -> bool:
        """Copy the model's current state into the widgets (attributes down)."""
        tables, maps = self.query(FleetTable), self.query(FleetMap)
        details, bars = self.query(VehicleDetail), self.query(AlertBar)
        if not (tables and maps and details and bars):
            return False  # not composed yet, or being torn down
        table = tables.first()
        vehicles = model.vehicle_list()
        if not table.vehicles:
            table.vehicles = vehicles  # the first rows at once; then `show_table` paces it
        selected = table.selected_vehicle_id
        maps.first().scene = MapScene(
            vehicles=vehicles,
            trails=model.trail_snapshot(),
            plan=model.plan,
            incidents=model.incident_list(),
            selected=selected,
        )
        detail = details.first()
        detail.vehicle = model.vehicles.get(selected) if selected else None
        detail.texts = model.texts_for(selected) if selected else ()
        bars.first().alerts = model.alerts()
        preview = model.preview
        if preview is not None and preview.vehicle_id != selected:
            preview = None  # a picture from the previous selection
        for video in self.query(VideoPreview):
            video.image = preview
        return True
