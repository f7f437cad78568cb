"""The console's own behaviour, driven by keys with Textual's Pilot against fixed data.

Nothing moves without an explicit confirm; refusals show the vehicle's reason;
every action is in the palette; incidents go through their whole life.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Label
from tui_fakes import FakeConsoleBackend, fixed_plan

from missions.plan import PatrolPlan
from tui.actions import ACTIONS
from tui.app import ConsoleOptions, DroneOpsConsole
from tui.backend import VehicleAction
from tui.model import IncidentStatus, VehicleView
from tui.screens.confirm import ConfirmScreen
from tui.screens.incidents import IncidentsScreen
from tui.screens.planner import PlannerScreen, PlanTools
from tui.screens.prompt import GotoScreen
from tui.widgets.fleet_map import FleetMap
from tui.widgets.fleet_table import FleetTable

Console = tuple[DroneOpsConsole, Pilot[None], FakeConsoleBackend]


@asynccontextmanager
async def console(
    *,
    plan: PatrolPlan | None = None,
    tools: PlanTools | None = None,
    size: tuple[int, int] = (80, 24),
) -> AsyncIterator[Console]:
    backend = FakeConsoleBackend()
    app = DroneOpsConsole(backend, plan=plan, plan_tools=tools, options=ConsoleOptions())
    async with app.run_test(size=size) as pilot:
        await app.wait_for(lambda: _rows(app) == 3, 20)
        await pilot.pause()
        yield app, pilot, backend


def _rows(app: DroneOpsConsole) -> int:
    tables = app.screen.query(FleetTable)
    return tables.first().row_count if tables else 0


def said(app: DroneOpsConsole, fragment: str) -> bool:
    return any(fragment in text for _, text in app.notices)


def question(app: DroneOpsConsole) -> str:
    assert isinstance(app.screen, ConfirmScreen)
    return str(app.screen.query_one("#question", Label).content)


async def test_cancel_is_the_default_so_enter_and_escape_send_nothing() -> None:
    async with console() as (app, pilot, backend):
        await pilot.press("h")
        assert question(app) == "Return to launch drone-1?"
        await pilot.press("enter")  # focus starts on Cancel
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("h", "escape", "l", "n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert backend.sent == []
        assert said(app, "Return to launch drone-1: cancelled, nothing sent")
        assert said(app, "Land drone-1: cancelled, nothing sent")


async def test_explicit_confirm_sends_the_named_command_to_the_selected_vehicle() -> None:
    async with console() as (app, pilot, backend):
        await pilot.press("down")  # select drone-2
        await pilot.pause()
        await pilot.press("p")
        assert question(app) == "Pause drone-2?"
        await pilot.press("tab", "enter")
        await app.wait_for(lambda: said(app, "Pause drone-2: accepted"), 20)
        sent = [(r.vehicle_id, r.action) for r in backend.sent]
        assert sent == [("drone-2", VehicleAction.PAUSE)]


async def test_refusal_is_a_notification_with_the_vehicles_reason() -> None:
    async with console() as (app, pilot, backend):
        backend.refuse_with = "drone-1 refused arm: [PREFLIGHT] GPS fix too low"
        await pilot.press("a", "right", "enter")
        await app.wait_for(lambda: said(app, "GPS fix too low"), 20)
        severity, text = app.notices[-1]
        assert severity == "error"
        assert text == "Arm drone-1: drone-1 refused arm: [PREFLIGHT] GPS fix too low"


async def test_takeoff_names_the_altitude_and_patrol_names_the_plan() -> None:
    async with console(plan=fixed_plan()) as (app, pilot, backend):
        await pilot.press("t")
        assert question(app) == "Take off drone-1 to 20 m?"
        await pilot.press("escape", "s")
        assert question(app) == "Start patrol drone-1 with plan 'riverside' (6 items)?"
        await pilot.press("tab", "enter")
        await app.wait_for(lambda: len(backend.sent) == 1, 20)
        assert backend.sent[0].plan is not None
        assert backend.sent[0].plan.name == "riverside"


async def test_start_patrol_without_a_plan_says_what_to_do() -> None:
    async with console() as (app, pilot, backend):
        await pilot.press("s")
        assert not isinstance(app.screen, ConfirmScreen)
        assert said(app, "no plan loaded; open one in the planner (o)")
        assert backend.sent == []


async def test_goto_validates_the_position_then_confirms_it() -> None:
    async with console() as (app, pilot, backend):
        await pilot.press("g")
        assert isinstance(app.screen, GotoScreen)
        field = app.screen.query_one(Input)
        assert field.value.startswith("47.39")  # pre-filled with the vehicle's position
        field.value = "47.4 nonsense 30"
        await pilot.press("enter")
        assert "three numbers" in str(app.screen.query_one("#error", Label).content)
        field.value = "47.398 8.546 999"
        await pilot.press("enter")
        assert "1..500 m" in str(app.screen.query_one("#error", Label).content)
        field.value = "47.398 8.546 40"
        await pilot.press("enter")
        assert question(app) == "Go to drone-1 → 47.398000, 8.546000 at 40 m?"
        await pilot.press("tab", "enter")
        await app.wait_for(lambda: len(backend.sent) == 1, 20)
        sent = backend.sent[0]
        assert (sent.lat_deg, sent.lon_deg, sent.alt_m) == (47.398, 8.546, 40.0)


async def test_palette_offers_every_action_and_runs_it_through_the_confirmation() -> None:
    for action in ACTIONS:
        name = action.action.split("(")[0]
        assert callable(getattr(DroneOpsConsole, f"action_{name}", None)), name
    async with console() as (app, pilot, backend):
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"return")  # found by its help text
        await app.wait_for(lambda: _palette_has(app, "Return the selected vehicle"), 20)
        await pilot.press("enter")
        await app.wait_for(lambda: isinstance(app.screen, ConfirmScreen), 20)
        assert question(app) == "Return to launch drone-1?"
        assert backend.sent == []


def _palette_has(app: DroneOpsConsole, text: str) -> bool:
    from textual.command import CommandList

    lists = app.screen.query(CommandList)
    return bool(lists) and any(
        text in str(lists.first().get_option_at_index(i).prompt)
        for i in range(lists.first().option_count)
    )


async def test_live_updates_reach_the_table_and_alerts_are_announced_once() -> None:
    async with console() as (app, _, backend):
        assert said(app, "drone-3: link lost")
        before = len([t for _, t in app.notices if "link lost" in t])
        await backend.queue.put(VehicleView(vehicle_id="drone-3", link_ok=False, battery_pct=99.0))
        await backend.queue.put(VehicleView(vehicle_id="drone-1", battery_pct=5.0))
        await app.wait_for(lambda: said(app, "drone-1: battery critical 5%"), 20)
        table = app.screen.query_one(FleetTable)  # paced at table_hz, so it follows shortly
        await app.wait_for(lambda: table.get_cell("drone-1", "battery").plain == "  5%", 20)
        assert "on red" in str(table.get_cell("drone-1", "battery").spans)  # critical: red
        assert len([t for _, t in app.notices if "link lost" in t]) == before


async def test_map_keys_zoom_fit_and_follow() -> None:
    async with console(plan=fixed_plan()) as (app, pilot, _):
        fmap = app.screen.query_one(FleetMap)
        await pilot.pause()
        fitted = fmap.m_per_dot
        await pilot.press("plus")
        assert fmap.m_per_dot < fitted
        await pilot.press("minus", "minus")
        assert fmap.m_per_dot > fitted
        await pilot.press("0")
        assert fmap.m_per_dot == fitted
        await pilot.press("f")
        assert fmap.follow
        await pilot.press("shift+left")  # panning ends follow
        assert not fmap.follow


async def test_mark_acknowledge_note_and_resolve_an_incident() -> None:
    async with console() as (app, pilot, _):
        await pilot.press("m")
        await pilot.press(*"red car")
        await pilot.press("enter")
        await app.wait_for(lambda: said(app, "incident 101 raised at drone-1"), 20)
        await pilot.press("i")
        await app.wait_for(lambda: isinstance(app.screen, IncidentsScreen), 20)
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        await app.wait_for(lambda: screen.selected_incident_id == "101", 20)
        await pilot.press("k")
        await app.wait_for(lambda: app.model.incidents["101"].status is IncidentStatus.ACKNOWLEDGED)
        await pilot.press("n", *"owner found", "enter")
        await app.wait_for(lambda: app.model.incidents["101"].notes == ("owner found",))
        await pilot.press("r")
        await app.wait_for(lambda: app.model.incidents["101"].status is IncidentStatus.RESOLVED)
        # Filter: only the battery incident matches.
        await pilot.press("slash", *"battery", "enter")
        await pilot.pause()
        table = screen.query_one("#incident-list")
        assert table.row_count == 1  # type: ignore[attr-defined]
        assert screen.selected_incident_id == "2"


async def test_planner_shows_violations_and_refuses_a_violating_plan(tmp_path: Path) -> None:
    violations: list[str] = ["home is outside the geofence"]

    def check(plan: PatrolPlan) -> Sequence[str]:
        return tuple(violations)

    tools = PlanTools(load=lambda path: fixed_plan(), check=check)
    async with console(tools=tools) as (app, pilot, _):
        await pilot.press("o")
        assert isinstance(app.screen, PlannerScreen)
        app.screen.query_one(Input).value = str(tmp_path / "riverside.plan")
        await pilot.press("enter")
        await pilot.press("u")
        assert said(app, "violates 1 constraint(s)")
        assert app.model.plan is None
        violations.clear()
        await pilot.press("shift+tab")  # back to the path field
        await pilot.press("enter", "u")
        await app.wait_for(lambda: app.model.plan is not None, 20)
        assert not isinstance(app.screen, PlannerScreen)
        assert said(app, "plan 'riverside' loaded")


async def test_planner_reports_an_unreadable_file_in_one_line() -> None:
    async with console(tools=PlanTools()) as (app, pilot, _):
        await pilot.press("o")
        app.screen.query_one(Input).value = "/nowhere/x.plan"
        await pilot.press("enter")
        await pilot.pause()
        report = app.screen.query_one("#plan-report")
        assert report.error == "/nowhere/x.plan: no plan file reader configured"  # type: ignore[attr-defined]


async def test_a_fleet_of_fifty_scrolls_and_the_selection_stays_visible() -> None:
    backend = FakeConsoleBackend([VehicleView(vehicle_id=f"v{i}") for i in range(1, 51)])
    app = DroneOpsConsole(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_for(lambda: _rows(app) == 50, 20)
        table = app.screen.query_one(FleetTable)
        table.focus()
        await pilot.press("end")
        await app.wait_for(lambda: app.selected_vehicle_id == "v50", 20)  # natural order
        assert table.size.height < 51  # the table scrolls instead of taking the screen

        def visible() -> list[str]:  # first word of each row on screen
            lines = (table.render_line(y).text.split() for y in range(table.size.height))
            return [words[0] for words in lines if words]

        await pilot.pause()
        assert "v50" in visible()
        assert "v1" not in visible()
        await pilot.press("home", "down")
        await app.wait_for(lambda: app.selected_vehicle_id == "v2", 20)
        await pilot.pause()
        assert "v1" in visible()
        assert "v50" not in visible()
