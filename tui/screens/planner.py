"""Planner: open a plan file or generate a patrol from an area file, preview it on the
map with length, time and energy, see every constraint violation, and hand it to the
fleet view to fly (`u`), or straight to the selected vehicle's confirmation (`f`).

One input line, keyboard only: a path opens a plan file; a path followed by a
pattern and parameters generates one (`depot.geojson perimeter alt=40 laps=2`,
see `tui.planning`). Enter again after editing the parameters regenerates.

Reading files and checking constraints are `missions` functions passed in as
`PlanTools`, so the screen itself does no I/O beyond what they do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Input

from missions.energy import FlightEstimate, estimate_flight
from missions.errors import MissionsError
from missions.plan import Home, PatrolPlan
from tui.model import FleetModel
from tui.planning import HELP, GenerateRequest, parse_request
from tui.widgets.fleet_map import FleetMap, MapScene

__all__ = ["PlanSummary", "PlanTools", "PlannerScreen"]


def _no_loader(path: Path) -> PatrolPlan:
    raise MissionsError(f"{path}: no plan file reader configured")


def _no_checks(plan: PatrolPlan) -> Sequence[str]:
    return ()


def _no_generator(request: GenerateRequest, home: Home | None) -> PatrolPlan:
    raise MissionsError(f"{request.path}: no plan generator configured")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanTools:
    """How the planner reads plan files, generates patrols and checks constraints
    (from `missions`)."""

    load: Callable[[Path], PatrolPlan] = _no_loader
    check: Callable[[PatrolPlan], Sequence[str]] = _no_checks
    generate: Callable[[GenerateRequest, Home | None], PatrolPlan] = _no_generator


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSummary:
    plan: PatrolPlan
    estimate: FlightEstimate | None
    violations: tuple[str, ...]


class PlanReport(Widget):
    DEFAULT_CSS = """
    PlanReport {
        border: round $primary 50%;
        width: 36;
        height: 1fr;
        padding: 0 1;
    }
    """

    summary: reactive[PlanSummary | None] = reactive(None)
    error: reactive[str] = reactive("")

    def render(self) -> Table | Text:
        if self.error:
            return Text(self.error, style="bold red")
        s = self.summary
        if s is None:
            return Text(
                "Type a plan file path above and press Enter, or generate one:\n"
                f"{HELP}\n\ne.g. depot.geojson perimeter alt=40 margin=10 laps=2",
                style="dim",
            )
        self.border_title = s.plan.name
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        grid.add_row("kind", s.plan.kind)
        params = _params_text(s.plan)
        if params:
            grid.add_row("params", params)
        grid.add_row("items", str(len(s.plan.items)))
        grid.add_row(
            "fence", f"{len(s.plan.fence.polygons)} polygons, {len(s.plan.fence.circles)} circles"
        )
        grid.add_row("rally", str(len(s.plan.rally)))
        if s.estimate is not None:
            e = s.estimate
            grid.add_row("length", f"{e.distance_m / 1000:.2f} km")
            grid.add_row("time", f"{e.time_s / 60:.1f} min")
            grid.add_row("energy", f"{e.energy_wh:.1f} Wh")
            grid.add_row("worst", f"{e.worst_with_return_wh:.1f} of {e.usable_wh:.1f} Wh usable")
        if s.violations:
            for v in s.violations:
                grid.add_row(Text("✗", style="bold red"), Text(v, style="red"))
        else:
            grid.add_row(Text("✓", style="bold green"), "no constraint violations")
            grid.add_row("", Text("u: use this plan, then s on a vehicle", style="dim"))
            grid.add_row("", Text("f: fly it on the selected vehicle", style="dim"))
        return grid


_PARAM_NAMES = {"alt_m": "alt", "margin_m": "margin", "laps": "laps", "side_overlap": "overlap",
                "radius_m": "radius", "spacing_m": "spacing"}  # fmt: skip


def _params_text(plan: PatrolPlan) -> str:
    """The generator's key parameters, as the request line spells them."""
    out = []
    for key, short in _PARAM_NAMES.items():
        value = plan.params.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(f"{short}={value:g}")
    return " ".join(out)


class PlannerScreen(Screen[None]):
    DEFAULT_CSS = """
    PlannerScreen #plan-path {
        height: 3;
    }
    PlannerScreen #plan-body {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("u", "use_plan", "Use plan"),
        Binding("f", "fly_plan", "Fly on selected"),
    ]

    def __init__(self, tools: PlanTools, *, home: Home | None = None) -> None:
        super().__init__()
        self.tools = tools
        self.home = home  # the selected vehicle's home: generated plans start there

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="plan file, or: area.geojson perimeter|coverage|orbit|route alt=40 …",
            id="plan-path",
        )
        with Horizontal(id="plan-body"):
            yield FleetMap(id="plan-map")
            yield PlanReport(id="plan-report")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#plan-path", Input).focus()

    def show(self, model: FleetModel) -> bool:
        if not self.query(PlanReport):
            return False  # not composed yet
        report = self.query_one(PlanReport)
        plan = report.summary.plan if report.summary is not None else model.plan
        self.query_one(FleetMap).scene = MapScene(vehicles=model.vehicle_list(), plan=plan)
        return True

    def open_plan(self, path: Path) -> None:
        self._show_plan(lambda: self.tools.load(path))

    def generate(self, text: str) -> None:
        """Generate a patrol from a request line (`FILE KIND key=value …`)."""
        self._show_plan(lambda: self.tools.generate(parse_request(text), self.home))

    def _show_plan(self, make: Callable[[], PatrolPlan]) -> None:
        report = self.query_one(PlanReport)
        try:
            plan = make()
            violations = tuple(self.tools.check(plan))
        except (MissionsError, OSError) as exc:
            report.summary = None
            report.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return
        try:
            estimate: FlightEstimate | None = estimate_flight(plan)
        except (MissionsError, ValueError):
            estimate = None
        report.error = ""
        report.summary = PlanSummary(plan=plan, estimate=estimate, violations=violations)
        map_ = self.query_one(FleetMap)
        map_.scene = MapScene(vehicles=map_.scene.vehicles, plan=plan)
        self.query_one(FleetMap).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if len(text.split()) > 1 and not Path(text).expanduser().exists():
            self.generate(text)
        elif text:
            self.open_plan(Path(text).expanduser())

    class PlanChosen(Message):
        """The operator chose a checked plan to fly (the app owns the model)."""

        def __init__(self, plan: PatrolPlan, *, fly: bool = False) -> None:
            super().__init__()
            self.plan = plan
            self.fly = fly  # go on to the selected vehicle's start-patrol confirmation

    def action_fly_plan(self) -> None:
        self.action_use_plan(fly=True)

    def action_use_plan(self, fly: bool = False) -> None:
        summary = self.query_one(PlanReport).summary
        if summary is None:
            self.notify("no plan open: type a path and press Enter", severity="error")
            return
        if summary.violations:
            self.notify(
                f"plan {summary.plan.name!r} violates {len(summary.violations)} constraint(s): "
                "fix the plan first",
                severity="error",
            )
            return
        self.post_message(self.PlanChosen(summary.plan, fly=fly))
        self.dismiss()
