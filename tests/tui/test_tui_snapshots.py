"""Layout snapshots of the main screens at 80×24 (SSH from a patrol car) and 160×48.

Fixed data, no clocks, notifications cleared: the SVGs under __snapshots__
change only when the layout does. Update with `pytest --snapshot-update` and
look at the diff before committing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from tui_fakes import FakeConsoleBackend, fixed_plan

from tui.app import DroneOpsConsole
from tui.model import PreviewImage
from tui.screens.planner import PlannerScreen, PlanTools
from tui.widgets.fleet_table import FleetTable

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
Snap = Callable[..., bool]


def make_app(backend: FakeConsoleBackend | None = None) -> DroneOpsConsole:
    tools = PlanTools(load=lambda path: fixed_plan(), check=lambda plan: ())
    return DroneOpsConsole(backend or FakeConsoleBackend(), plan=fixed_plan(), plan_tools=tools)


def camera_backend() -> FakeConsoleBackend:
    """drone-1 has a camera showing one fixed picture: sky over a road."""
    rgb = np.zeros((120, 160, 3), dtype=np.uint8)
    rgb[:50] = (90, 150, 230)
    rgb[50:] = (60, 120, 50)
    rgb[80:100, :] = (70, 70, 70)
    backend = FakeConsoleBackend()
    backend.frames["drone-1"] = asyncio.Queue()
    picture = PreviewImage(vehicle_id="drone-1", time_unix_us=1, rgb=rgb)
    backend.frames["drone-1"].put_nowait(picture)
    return backend


def ready(
    *keys: str, then: Callable[[DroneOpsConsole], Any] | None = None, preview: bool = False
) -> Any:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, DroneOpsConsole)

        def rows() -> int:
            tables = app.screen.query(FleetTable)
            return tables.first().row_count if tables else 0

        await app.wait_for(lambda: rows() == 3, 30)
        if preview:
            await app.wait_for(lambda: app.model.preview is not None, 30)
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        if then is not None:
            then(app)
        await pilot.pause()
        app.refresh_views()
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_fleet_view(snap_compare: Snap, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=ready())


@pytest.mark.parametrize("size", SIZES)
def test_fleet_view_with_camera_preview(snap_compare: Snap, size: tuple[int, int]) -> None:
    def shown(app: DroneOpsConsole) -> None:
        assert app.model.preview is not None  # the picture arrived before the snapshot

    app = make_app(camera_backend())
    assert snap_compare(app, terminal_size=size, run_before=ready(then=shown, preview=True))


@pytest.mark.parametrize("size", SIZES)
def test_confirmation_dialog(snap_compare: Snap, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=ready("down", "h"))


@pytest.mark.parametrize("size", SIZES)
def test_incidents(snap_compare: Snap, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=ready("i", "down"))


def _open_plan(app: DroneOpsConsole) -> None:
    screen = app.screen
    assert isinstance(screen, PlannerScreen)
    screen.query_one(Input).value = "riverside.plan"
    screen.open_plan(Path("riverside.plan"))


@pytest.mark.parametrize("size", SIZES)
def test_planner(snap_compare: Snap, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=ready("o", then=_open_plan))
