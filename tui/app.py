"""The operator console application.

One worker reads the backend's update feed into a `FleetModel`; a timer copies
the model into the visible screen at most `refresh_hz` times a second (so a
fleet streaming thousands of updates a second costs a handful of repaints).
Every vehicle command is built, validated, confirmed by the operator in a
dialog that names the vehicle and the action, and only then sent; the
controller's refusal comes back as a notification carrying the vehicle's reason.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen

from drone_ops.errors import DroneOpsError
from missions.errors import MissionsError
from missions.plan import Home, PatrolPlan
from tui.actions import bindings
from tui.backend import (
    CommandRequest,
    ConsoleBackend,
    DispatchProposal,
    IncidentAction,
    VehicleAction,
)
from tui.model import Alert, AlertLevel, FleetModel, StatusText
from tui.palette import ConsoleCommands
from tui.screens.confirm import ConfirmScreen
from tui.screens.console import ConsoleScreen
from tui.screens.incidents import IncidentsScreen
from tui.screens.planner import PlannerScreen, PlanTools
from tui.screens.prompt import GotoScreen, GotoTarget, NoteScreen, PointScreen
from tui.widgets.fleet_map import FleetMap
from tui.widgets.fleet_table import FleetTable

__all__ = ["ConsoleOptions", "DroneOpsConsole"]

_SEVERITY_WARNING = 4  # MAV_SEVERITY_WARNING: vehicle messages this loud become notifications

# Actions that need a confirmation, with a line saying what the vehicle will do.
_CONSEQUENCE = {
    VehicleAction.ARM: "Motors will spin up.",
    VehicleAction.TAKEOFF: "The vehicle climbs to this altitude (a disarmed one when armed).",
    VehicleAction.START_PATROL: "The plan is uploaded, checked and flown.",
    VehicleAction.PAUSE: "The vehicle holds its position.",
    VehicleAction.RESUME: "The vehicle continues its mission.",
    VehicleAction.GOTO: "The vehicle flies straight to the position.",
    VehicleAction.RTL: "The vehicle flies home and lands.",
    VehicleAction.LAND: "The vehicle lands where it is.",
    VehicleAction.ABORT: "The sortie ends as aborted; the vehicle returns home.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleOptions:
    refresh_hz: float = 10.0  # map, detail and alerts refreshes per second, at most
    table_hz: float = 2.0  # fleet table refreshes per second, at most
    takeoff_alt_m: float = 20.0
    title: str = "drone-ops"


class DroneOpsConsole(App[None]):
    """The Textual operator console. Drive it with a `ConsoleBackend`."""

    TITLE = "drone-ops"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings(),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        backend: ConsoleBackend,
        *,
        plan: PatrolPlan | None = None,
        plan_tools: PlanTools | None = None,
        options: ConsoleOptions | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.options = options or ConsoleOptions()
        self.plan_tools = plan_tools or PlanTools()
        self.model = FleetModel()
        if plan is not None:
            self.model.set_plan(plan)
        self.title = self.options.title
        self.selected_vehicle_id: str | None = None
        self.feed_error: str | None = None
        self.refresh_count = 0
        self._shown_key: object = None
        self._table_version: object = None
        self._table_due = 0.0  # monotonic time the fleet table may repaint again
        self._announced: set[tuple[str, str]] = set()
        self._changed = asyncio.Event()
        self.notices: deque[tuple[SeverityLevel, str]] = deque(maxlen=200)
        self._console = ConsoleScreen()
        self._video_vehicle: str | None = None  # whose camera the video worker watches

    # ------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self.push_screen(self._console)
        self.set_interval(1.0 / self.options.refresh_hz, self.refresh_views, name="refresh")
        self._feed()

    @work(exclusive=True, group="feed", name="feed")
    async def _feed(self) -> None:
        """The one worker that feeds state in."""
        try:
            async for update in self.backend.updates():
                self.model.apply(update)
                if isinstance(update, StatusText) and update.severity <= _SEVERITY_WARNING:
                    level: SeverityLevel = "error" if update.severity <= 3 else "warning"
                    self.notify(f"{update.vehicle_id}: {update.text}", severity=level)
        except DroneOpsError as exc:
            self.feed_error = str(exc)
            self.notify(f"controller feed lost: {exc}", severity="error", timeout=30)
            return
        self.feed_error = "feed ended"

    def refresh_views(self) -> None:
        """Copy the model into the visible screen if anything changed.

        The fleet table is the most expensive widget to repaint (every cell of a
        changed table is drawn again), so it follows at `table_hz`; the map, the
        vehicle detail and the alerts follow at `refresh_hz`.
        """
        version = self.model.version
        screen = self.screen
        if isinstance(screen, ModalScreen):  # keep the screen below the dialog current
            screen = self.screen_stack[-2] if len(self.screen_stack) > 1 else screen
        self._changed.set()  # waiters re-check at every tick, whatever they wait for
        key = (version, id(screen), self._selection_key(screen))
        if key != self._shown_key:
            views = ConsoleScreen | IncidentsScreen | PlannerScreen
            try:
                if isinstance(screen, views) and not screen.show(self.model):
                    return  # not composed yet: try again next tick
            except NoMatches:
                return  # the screen is being torn down (closed, or the app is quitting)
            self._shown_key = key
            self._announce(self.model.alerts())
            self.refresh_count += 1
        if isinstance(screen, ConsoleScreen) and self._table_version != (version, id(screen)):
            now = time.monotonic()
            if now >= self._table_due:
                screen.show_table(self.model)
                self._table_version = (version, id(screen))
                self._table_due = now + 1.0 / self.options.table_hz
            self.selected_vehicle_id = screen.selected_vehicle_id
            self._follow_video()

    @staticmethod
    def _selection_key(screen: object) -> object:
        if isinstance(screen, ConsoleScreen):
            return screen.selected_vehicle_id
        if isinstance(screen, IncidentsScreen):
            return screen.selected_incident_id
        return None

    def _announce(self, alerts: Iterable[Alert]) -> None:
        """Notify each alert once when it appears; forget it when it clears."""
        current = {(a.vehicle_id, a.code): a for a in alerts}
        for key, alert in current.items():
            if key not in self._announced and alert.level >= AlertLevel.WARNING:
                severity: SeverityLevel = (
                    "error" if alert.level is AlertLevel.CRITICAL else "warning"
                )
                self.notify(f"{alert.vehicle_id}: {alert.text}", severity=severity)
                if alert.level is AlertLevel.CRITICAL:
                    self.bell()
        self._announced = set(current)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,  # vehicle reasons contain brackets; never parse them as markup
    ) -> None:
        """Show a notification and keep it in `notices` (the operator's recent messages)."""
        self.notices.append((severity, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
        """Wait until `predicate()` holds, checked at every refresh tick (tests, benchmarks)."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def on_fleet_table_selected(self, event: FleetTable.Selected) -> None:
        # A new selection should show at once, not at the next refresh tick.
        self.selected_vehicle_id = event.vehicle_id
        self._follow_video()
        self.refresh_views()

    # ------------------------------------------------------------ video preview
    def _follow_video(self) -> None:
        """Watch the selected vehicle's camera (and only it: decoding costs CPU)."""
        vehicle_id = self.selected_vehicle_id
        if vehicle_id == self._video_vehicle:
            return
        self._video_vehicle = vehicle_id
        self.model.set_preview(None)
        if vehicle_id is None:
            self.workers.cancel_group(self, "video")
        else:
            self._watch_video(vehicle_id)

    @work(exclusive=True, group="video", name="video")
    async def _watch_video(self, vehicle_id: str) -> None:
        """Feed the selected vehicle's preview pictures into the model until it changes."""
        try:
            async for image in self.backend.video_frames(vehicle_id):
                if self._video_vehicle != vehicle_id:
                    return
                self.model.set_preview(image)
        except DroneOpsError as exc:
            self.notify(f"camera {vehicle_id}: {exc}", severity="warning")

    # ------------------------------------------------------------ map actions
    def _map(self) -> FleetMap | None:
        maps = self.screen.query(FleetMap)
        return maps.first() if maps else None

    def action_zoom(self, direction: int) -> None:
        if (m := self._map()) is not None:
            m.zoom_in() if direction > 0 else m.zoom_out()

    def action_pan(self, dx: int, dy: int) -> None:
        if (m := self._map()) is not None:
            m.pan(dx, dy)

    def action_fit_map(self) -> None:
        if (m := self._map()) is not None:
            m.fit()

    def action_toggle_follow(self) -> None:
        if (m := self._map()) is not None:
            m.toggle_follow()
            m.refresh()

    # ------------------------------------------------------------ screens
    def action_show_incidents(self) -> None:
        if not isinstance(self.screen, IncidentsScreen):
            self.push_screen(IncidentsScreen())
            self.call_after_refresh(self.refresh_views)

    def action_show_planner(self) -> None:
        if not isinstance(self.screen, PlannerScreen):
            self.push_screen(PlannerScreen(self.plan_tools, home=self._selected_home()))
            self.call_after_refresh(self.refresh_views)

    def _selected_home(self) -> Home | None:
        v = self.model.vehicles.get(self.selected_vehicle_id or "")
        if v is None or v.home_lat_deg is None or v.home_lon_deg is None:
            return None
        return Home(lat_deg=v.home_lat_deg, lon_deg=v.home_lon_deg)

    def on_planner_screen_plan_chosen(self, message: PlannerScreen.PlanChosen) -> None:
        """The planner's checked plan becomes the one `s` starts on a vehicle; with `f`
        the start-patrol confirmation for the selected vehicle follows at once."""
        self.model.set_plan(message.plan)
        if message.fly:
            self.call_after_refresh(self.action_vehicle, VehicleAction.START_PATROL.value)
            return
        self.notify(f"plan {message.plan.name!r} loaded: press s to start it on a vehicle")

    # ------------------------------------------------------------ vehicle commands
    def action_vehicle(self, action: str) -> None:
        if isinstance(self.screen, ModalScreen):
            return  # one decision at a time
        verb = VehicleAction(action)
        vehicle_id = self.selected_vehicle_id or ""
        if verb is VehicleAction.GOTO:
            if not vehicle_id:
                self.notify("no vehicle selected: pick one in the fleet table", severity="error")
                return
            v = self.model.vehicles.get(vehicle_id)
            default: GotoTarget | None = None
            if v is not None and v.lat_deg is not None and v.lon_deg is not None:
                default = (v.lat_deg, v.lon_deg, max(v.rel_alt_m or 0.0, 10.0))

            def got_target(target: GotoTarget | None) -> None:
                if target is not None:
                    self._confirm_and_send(
                        vehicle_id, verb, lat_deg=target[0], lon_deg=target[1], alt_m=target[2]
                    )

            self.push_screen(GotoScreen(vehicle_id, default), got_target)
            return
        alt = self.options.takeoff_alt_m if verb is VehicleAction.TAKEOFF else None
        self._confirm_and_send(vehicle_id, verb, alt_m=alt)

    def _confirm_and_send(
        self,
        vehicle_id: str,
        verb: VehicleAction,
        *,
        alt_m: float | None = None,
        lat_deg: float | None = None,
        lon_deg: float | None = None,
    ) -> None:
        try:
            request = CommandRequest(
                vehicle_id=vehicle_id,
                action=verb,
                alt_m=alt_m,
                lat_deg=lat_deg,
                lon_deg=lon_deg,
                plan=self.model.plan if verb is VehicleAction.START_PATROL else None,
            )
        except DroneOpsError as exc:
            self.notify(str(exc), severity="error")
            return

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._send(request)
            else:
                self.notify(f"{request.action.label} {request.vehicle_id}: cancelled, nothing sent")

        self.push_screen(
            ConfirmScreen(request.describe(), _CONSEQUENCE[verb], confirm_label=verb.label),
            decided,
        )

    @work(group="commands")
    async def _send(self, request: CommandRequest) -> None:
        try:
            await self.backend.send(request)
        except (DroneOpsError, MissionsError) as exc:
            self.notify(f"{request.action.label} {request.vehicle_id}: {exc}", severity="error")
        else:
            self.notify(f"{request.action.label} {request.vehicle_id}: accepted")

    # ------------------------------------------------------------ incidents
    def action_mark_incident(self) -> None:
        if isinstance(self.screen, ModalScreen):
            return
        vehicle_id = self.selected_vehicle_id
        if not vehicle_id:
            self.notify("no vehicle selected: pick one in the fleet table", severity="error")
            return

        def noted(note: str | None) -> None:
            if note is not None:
                self._raise_incident(vehicle_id, note)

        self.push_screen(NoteScreen(f"Mark an incident at {vehicle_id}'s position — note:"), noted)

    @work(group="incidents")
    async def _raise_incident(self, vehicle_id: str, note: str) -> None:
        try:
            incident = await self.backend.raise_incident(vehicle_id, note)
        except DroneOpsError as exc:
            self.notify(f"mark incident at {vehicle_id}: {exc}", severity="error")
            return
        self.model.apply(incident)
        self.notify(f"incident {incident.incident_id} raised at {vehicle_id}")

    def action_incident(self, action: str) -> None:
        screen = self.screen
        if not isinstance(screen, IncidentsScreen):
            return
        incident_id = screen.selected_incident_id
        if incident_id is None:
            self.notify("no incident selected", severity="error")
            return
        verb = IncidentAction(action)
        if verb is IncidentAction.NOTE:

            def noted(note: str | None) -> None:
                if note:
                    self._update_incident(incident_id, verb, note)

            self.push_screen(
                NoteScreen(f"Note for incident {incident_id}:", allow_empty=False), noted
            )
            return
        self._update_incident(incident_id, verb, "")

    @work(group="incidents")
    async def _update_incident(self, incident_id: str, verb: IncidentAction, note: str) -> None:
        try:
            incident = await self.backend.update_incident(incident_id, verb, note)
        except DroneOpsError as exc:
            self.notify(f"{verb.value} incident {incident_id}: {exc}", severity="error")
            return
        self.model.apply(incident)
        self.notify(f"incident {incident_id}: {incident.status.value}")

    # ------------------------------------------------------------ dispatch
    def action_dispatch(self) -> None:
        """Ask for a point, propose the nearest ready vehicle, confirm, then dispatch it."""
        if isinstance(self.screen, ModalScreen):
            return

        def got_point(point: tuple[float, float] | None) -> None:
            if point is not None:
                self._propose_dispatch(*point)

        self.push_screen(PointScreen("Dispatch the nearest ready vehicle to"), got_point)

    @work(group="dispatch")
    async def _propose_dispatch(self, lat_deg: float, lon_deg: float) -> None:
        try:
            proposal = await self.backend.propose_dispatch(lat_deg, lon_deg)
        except DroneOpsError as exc:
            self.notify(f"dispatch to {lat_deg:.6f}, {lon_deg:.6f}: {exc}", severity="error")
            return

        def decided(confirmed: bool | None) -> None:
            if confirmed:
                self._dispatch(proposal)
            else:
                self.notify(f"{proposal.describe()}: cancelled, nothing sent")

        self.push_screen(
            ConfirmScreen(proposal.describe(), proposal.detail(), confirm_label="Dispatch"),
            decided,
        )

    @work(group="dispatch")
    async def _dispatch(self, proposal: DispatchProposal) -> None:
        try:
            said = await self.backend.dispatch(proposal)
        except (DroneOpsError, MissionsError) as exc:
            self.notify(f"{proposal.describe()}: {exc}", severity="error")
        else:
            self.notify(f"{proposal.describe()}: {said}")
