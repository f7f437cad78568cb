"""Operator flows through the console against simulated vehicles over real UDP.

The stack is the one `drone-ops tui --sim 3` runs: the simulator, the
controller (MAVSDK + pymavlink), an SQLite store with the audit chain and the
incident rules. Keys go in through Textual's Pilot; what the vehicles did is
checked in the controller's state and in the store, not only on the screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from drone_ops.cli.demo import demo_plan
from drone_ops.cli.tui import ConsoleStack, console_stack, plan_tools
from drone_ops.config import ControllerConfig, PreflightConfig, TimeoutsConfig
from drone_ops.incidents import Incidents, IncidentStatus
from drone_ops.state import FlightMode, LandedState
from missions.formats import save_plan
from tui.app import DroneOpsConsole
from tui.screens.confirm import ConfirmScreen
from tui.screens.incidents import IncidentsScreen
from tui.screens.planner import PlannerScreen, PlanReport
from tui.widgets.fleet_table import FleetTable

# Twice the demo's factor: these flows fly whole patrols, take-offs and landings, so
# their wall time is mostly simulated flight. Every wait below is for an event.
SPEEDUP = 20.0
pytestmark = pytest.mark.slow

# Six engineers share two cores here: give the link PX4's own loss time (COM_DL_LOSS_T
# 10 s) so a starved event loop is not mistaken for a lost vehicle, and a take-off the
# 6 wall seconds it has at 10x.
TOLERANT = ControllerConfig(
    timeouts=TimeoutsConfig(heartbeat_loss_s=10.0, state_change_s=6.0 * SPEEDUP),
    preflight=PreflightConfig(max_heartbeat_age_s=10.0),
)


Running = tuple[DroneOpsConsole, Pilot[None], ConsoleStack]


@asynccontextmanager
async def sim_console(tmp_path: Path) -> AsyncIterator[Running]:
    async with console_stack(
        sim=3,
        store_url=f"sqlite:///{tmp_path}/drone-ops.db",
        var=tmp_path,
        speedup=SPEEDUP,
        config=TOLERANT,
        actor="operator:test",
        incident_refresh_s=0.5,
    ) as stack:
        app = DroneOpsConsole(stack.backend, plan_tools=plan_tools())
        async with app.run_test(size=(100, 30)) as pilot:

            def ready() -> bool:
                tables = app.screen.query(FleetTable)
                return (
                    bool(tables)
                    and tables.first().row_count == 3
                    and all(v.has_position for v in app.model.vehicles.values())
                )

            await app.wait_for(ready, 30)
            try:
                yield app, pilot, stack
            except BaseException:
                print("operator notices:", *app.notices, sep="\n  ")  # shown when a test fails
                raise


async def select(app: DroneOpsConsole, pilot: Pilot[None], vehicle_id: str) -> None:
    table = app.screen.query_one(FleetTable)
    table.select_vehicle(vehicle_id)
    await app.wait_for(lambda: app.selected_vehicle_id == vehicle_id, 10)


def dialog_mounted(app: DroneOpsConsole) -> bool:
    """The confirmation is up: its buttons are composed and one has the focus."""
    return isinstance(app.screen, ConfirmScreen) and app.focused is not None


async def confirm(app: DroneOpsConsole, pilot: Pilot[None], key: str, expect: str) -> None:
    """Key, read the question, Tab to Confirm, Enter. Keys go in as the terminal sends
    them (`simulate_key`) and each waits for what it must do: Pilot.press waits for an
    idle process after every key (up to 1 s, twice), and one flying three vehicles
    never is, so each confirmation in flight cost ~6 s of waiting for nothing."""
    app.simulate_key(key)
    await app.wait_for(lambda: dialog_mounted(app))
    dialog = app.screen
    assert str(dialog.query_one("#question").content) == expect + "?"  # type: ignore[attr-defined]
    assert app.focused is not None
    assert app.focused.id == "cancel"  # Enter alone sends nothing
    app.simulate_key("tab")
    await app.wait_for(lambda: app.focused is not None and app.focused.id == "confirm", 10)
    app.simulate_key("enter")
    await app.wait_for(lambda: app.screen is not dialog, 10)


async def commands_sent(stack: ConsoleStack, vehicle_id: str) -> list[str]:
    entries = await stack.store.audit.entries(target=f"vehicle:{vehicle_id}")
    return [e.action for e in entries if e.action.endswith(".request")]


async def test_patrol_from_a_plan_file_with_pause_and_resume_to_the_end(tmp_path: Path) -> None:
    async with sim_console(tmp_path) as (app, pilot, stack):
        plan_file = tmp_path / "perimeter.plan"
        plan = demo_plan(stack.fleet.session("v1"), 0, 1)
        save_plan(plan, str(plan_file))

        # Without a confirmation nothing is sent: Enter lands on Cancel.
        app.simulate_key("h")
        await app.wait_for(lambda: dialog_mounted(app))
        app.simulate_key("enter")
        await app.wait_for(lambda: any("cancelled" in t for _, t in app.notices), 10)
        assert await commands_sent(stack, "v1") == []

        # Planner: open the file, see it checked, use it.
        app.simulate_key("o")
        await app.wait_for(
            lambda: isinstance(app.screen, PlannerScreen) and app.focused is not None, 10
        )
        planner = app.screen
        assert isinstance(planner, PlannerScreen)
        planner.query_one(Input).value = str(plan_file)
        app.simulate_key("enter")
        await app.wait_for(lambda: planner.query_one(PlanReport).summary is not None, 10)
        app.simulate_key("u")
        await app.wait_for(lambda: app.model.plan is not None, 10)

        n = len(plan.items)
        await confirm(app, pilot, "s", f"Start patrol v1 with plan 'perimeter-v1' ({n} items)")
        v1 = lambda: app.model.vehicles["v1"]  # noqa: E731 - the newest view, re-read each time
        await app.wait_for(lambda: v1().sortie == "flying" and (v1().mission_seq or 0) >= 2, 60)

        await confirm(app, pilot, "p", "Pause v1")
        await app.wait_for(lambda: v1().sortie == "paused", 30)
        # the vehicle holds (its mode arrives with the next heartbeat, not with the ack)
        await stack.fleet.session("v1").wait_for(
            lambda st: st.mode is FlightMode.AUTO_LOITER, timeout_s=10
        )
        await confirm(app, pilot, "c", "Resume v1")
        # Flying again (at 20x it may already be on its way home by the next look).
        await app.wait_for(lambda: v1().sortie in ("flying", "returning", "completed"), 30)

        await app.wait_for(lambda: v1().sortie == "completed", 120)
        assert v1().mission_seq == v1().mission_total  # progress reached the end
        result = await stack.fleet.sortie_result("v1")
        assert result.outcome.value == "completed"
        assert stack.fleet.state("v1").landed is LandedState.ON_GROUND
        sent = await commands_sent(stack, "v1")
        assert "command.pause.request" in sent
        assert "command.resume.request" in sent


async def test_take_off_rtl_and_an_incident_raised_and_resolved(tmp_path: Path) -> None:
    async with sim_console(tmp_path) as (app, pilot, stack):
        await select(app, pilot, "v2")
        await confirm(app, pilot, "t", "Take off v2 to 20 m")
        await app.wait_for(lambda: any(t == "Take off v2: accepted" for _, t in app.notices), 20)
        await confirm(app, pilot, "a", "Arm v2")  # PX4: a pending take-off starts when armed
        v2 = lambda: app.model.vehicles["v2"]  # noqa: E731
        await app.wait_for(lambda: (v2().rel_alt_m or 0.0) > 15.0, 60)

        # Mark an incident at v2's position, in the air: the note goes into the field,
        # not key by key (see `confirm` for why Pilot's keys are slow here).
        app.simulate_key("m")
        await app.wait_for(lambda: app.focused is not None and app.focused.id == "note", 20)
        app.screen.query_one("#note", Input).value = "dog loose"
        app.simulate_key("enter")
        marked = lambda: [i for i in app.model.incidents.values() if i.summary == "dog loose"]  # noqa: E731
        await app.wait_for(lambda: bool(marked()), 20)
        incident = marked()[0]
        assert incident.vehicle_id == "v2"
        assert incident.lat_deg is not None  # at the vehicle's position

        await confirm(app, pilot, "h", "Return to launch v2")
        await app.wait_for(lambda: v2().mode == "AUTO.RTL", 30)
        await app.wait_for(lambda: v2().landed_state == "ON_GROUND" and not v2().armed, 120)

        app.simulate_key("i")  # mounted: the list has the focus
        await app.wait_for(
            lambda: isinstance(app.screen, IncidentsScreen) and app.focused is not None, 10
        )
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        app.simulate_key("slash")  # rules may have raised others: filter
        await app.wait_for(lambda: app.focused is screen.query_one("#filter"), 10)
        screen.query_one("#filter", Input).value = "dog"
        app.simulate_key("enter")  # the list takes the focus back: its keys work again
        await app.wait_for(lambda: app.focused is screen.query_one("#incident-list"), 10)
        await app.wait_for(lambda: screen.selected_incident_id == incident.incident_id, 20)
        app.simulate_key("r")  # the store refuses: open → acknowledged → resolved
        await app.wait_for(lambda: any("acknowledge it first" in t for _, t in app.notices), 20)
        app.simulate_key("k")
        await app.wait_for(
            lambda: app.model.incidents[incident.incident_id].status.value == "acknowledged", 20
        )
        app.simulate_key("r")
        await app.wait_for(
            lambda: app.model.incidents[incident.incident_id].status.value == "resolved", 20
        )
        stored = await Incidents(stack.store).get(int(incident.incident_id))
        assert stored.status is IncidentStatus.RESOLVED
        assert stored.raised_by == "operator:test"
        assert "command.rtl.request" in await commands_sent(stack, "v2")
        assert await commands_sent(stack, "v1") == []  # only the selected vehicle was commanded
