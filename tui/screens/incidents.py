"""Incidents: list and filter, see notes and evidence, acknowledge, resolve, add notes."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Input
from textual.widgets.data_table import CellDoesNotExist

from tui.model import FleetModel, IncidentStatus, IncidentView

__all__ = ["IncidentDetail", "IncidentsScreen", "matches"]

_STATUS_STYLE = {
    IncidentStatus.OPEN: "bold white on red",
    IncidentStatus.ACKNOWLEDGED: "bold yellow",
    IncidentStatus.RESOLVED: "green",
    IncidentStatus.DISMISSED: "dim",
}


def matches(incident: IncidentView, query: str) -> bool:
    """Every word of the filter must appear in the id, kind, status, vehicle or summary."""
    hay = " ".join(
        (
            incident.incident_id,
            incident.kind,
            incident.severity,
            incident.status.value,
            incident.vehicle_id or "",
            incident.summary,
        )
    ).lower()
    return all(word in hay for word in query.lower().split())


class IncidentDetail(Widget):
    DEFAULT_CSS = """
    IncidentDetail {
        border: round $primary 50%;
        width: 1fr;
        height: 1fr;
        padding: 0 1;
    }
    """

    incident: reactive[IncidentView | None] = reactive(None)

    def render(self) -> Table | Text:
        inc = self.incident
        if inc is None:
            return Text("No incident selected.", style="dim")
        self.border_title = f"Incident {inc.incident_id}"
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        grid.add_row("status", Text(inc.status.value, style=_STATUS_STYLE[inc.status]))
        grid.add_row("kind", f"{inc.kind} ({inc.severity})")
        grid.add_row("time", inc.time_text)
        grid.add_row("vehicle", inc.vehicle_id or "-")
        if inc.lat_deg is not None and inc.lon_deg is not None:
            grid.add_row("position", f"{inc.lat_deg:.6f} {inc.lon_deg:.6f}")
        grid.add_row("summary", inc.summary)
        for note in inc.notes:
            grid.add_row("note", note)
        for ev in inc.evidence:
            grid.add_row(ev.kind, f"{ev.path}\nsha256 {ev.sha256[:16]}…")
        return grid


class IncidentsScreen(Screen[None]):
    DEFAULT_CSS = """
    IncidentsScreen #filter {
        height: 3;
    }
    IncidentsScreen #incident-list {
        width: 1fr;
        height: 1fr;
    }
    IncidentsScreen #body {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("k", "app.incident('acknowledge')", "Acknowledge"),
        Binding("r", "app.incident('resolve')", "Resolve"),
        Binding("n", "app.incident('note')", "Note"),
        Binding("slash", "focus_filter", "Filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._incidents: tuple[IncidentView, ...] = ()
        self._shown: tuple[IncidentView, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: words in status, vehicle, kind… (/)", id="filter")
        with Horizontal(id="body"):
            yield DataTable[Text](id="incident-list", cursor_type="row", zebra_stripes=True)
            yield IncidentDetail(id="incident-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#incident-list", DataTable)
        for label, width in (("ID", 4), ("Status", 12), ("Kind", 14), ("Vehicle", 9), ("Time", 20)):
            table.add_column(label, width=width)
        table.focus()

    @property
    def selected_incident_id(self) -> str | None:
        tables = self.query("#incident-list").results(DataTable)
        table = next(tables, None)
        if table is None or table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def show(self, model: FleetModel) -> bool:
        tables = self.query("#incident-list").results(DataTable)
        table = next(tables, None)
        if table is None or not table.columns:
            return False  # not composed and mounted yet
        self._incidents = model.incident_list()
        self._refresh_list()
        return True

    def _refresh_list(self) -> None:
        query = self.query_one("#filter", Input).value
        shown = tuple(i for i in self._incidents if matches(i, query))
        if shown != self._shown:
            table = self.query_one("#incident-list", DataTable)
            selected = self.selected_incident_id
            table.clear()
            for inc in shown:
                table.add_row(
                    Text(inc.incident_id, style="bold"),
                    Text(inc.status.value, style=_STATUS_STYLE[inc.status]),
                    Text(inc.kind),
                    Text(inc.vehicle_id or "-"),
                    Text(inc.time_text),
                    key=inc.incident_id,
                )
            ids = [i.incident_id for i in shown]
            if selected in ids:
                table.move_cursor(row=ids.index(selected))
            self._shown = shown
        self._show_detail()

    def _show_detail(self) -> None:
        selected = self.selected_incident_id
        details = self.query(IncidentDetail)  # empty while the screen is being torn down
        if not details:
            return
        shown = next((i for i in self._incidents if i.incident_id == selected), None)
        details.first().incident = shown

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._refresh_list()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#incident-list", DataTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()
