"""Planner generation, live video preview and dispatch from the console, by keys.

The console runs on the fixed-data fake controller; the planner uses the real
`missions` generators, energy model and checks (`drone_ops.cli.tui.plan_tools`)
on a real area file.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from rich.color import Color
from rich.console import Console as RichConsole
from textual.pilot import Pilot
from textual.widgets import Input, Label
from tui_fakes import FakeConsoleBackend

from drone_ops.cli.tui import plan_tools
from tui.app import DroneOpsConsole
from tui.model import PreviewImage
from tui.planning import PlanRequestError, parse_request
from tui.screens.confirm import ConfirmScreen
from tui.screens.planner import PlannerScreen, PlanReport
from tui.screens.prompt import PointScreen
from tui.widgets.fleet_table import FleetTable
from tui.widgets.video_preview import VideoPreview, half_block_cells

AREAS = Path(__file__).parents[1] / "missions" / "data" / "depot.geojson"

Console = tuple[DroneOpsConsole, Pilot[None], FakeConsoleBackend]


@asynccontextmanager
async def console(backend: FakeConsoleBackend | None = None) -> AsyncIterator[Console]:
    backend = backend or FakeConsoleBackend()
    app = DroneOpsConsole(backend, plan_tools=plan_tools())
    async with app.run_test(size=(100, 30)) as pilot:

        def rows() -> int:
            tables = app.screen.query(FleetTable)
            return tables.first().row_count if tables else 0

        await app.wait_for(lambda: rows() == 3 and app.selected_vehicle_id == "drone-1", 20)
        yield app, pilot, backend


def said(app: DroneOpsConsole, fragment: str) -> bool:
    return any(fragment in text for _, text in app.notices)


def question(app: DroneOpsConsole) -> str:
    assert isinstance(app.screen, ConfirmScreen)
    return str(app.screen.query_one("#question", Label).content)


async def request_plan(app: DroneOpsConsole, pilot: Pilot[None], line: str) -> PlanReport:
    screen = app.screen
    assert isinstance(screen, PlannerScreen)
    field = screen.query_one(Input)
    field.focus()
    field.value = line
    await pilot.press("enter")
    await pilot.pause()
    return screen.query_one(PlanReport)


# ------------------------------------------------------------------ planner generation


def test_generate_requests_are_parsed_and_bad_ones_say_what_to_type() -> None:
    req = parse_request(f"{AREAS} perimeter alt=35 margin=8 laps=2")
    assert (req.kind, req.alt_m, req.margin_m, req.laps) == ("perimeter", 35.0, 8.0, 2)
    assert parse_request(req.line()) == req
    for line, fragment in (
        ("area.geojson spiral", "unknown pattern 'spiral'"),
        ("area.geojson orbit radius=two", "radius='two' is not a number"),
        ("area.geojson orbit laps=1.5", "laps='1.5' is not a whole number"),
        ("area.geojson coverage overlap=0.99", "overlap=0.99 is outside"),
        ("area.geojson route speed=3", "unknown option 'speed=3'"),
        ("area.geojson", "expected AREA_FILE KIND"),
    ):
        with pytest.raises(PlanRequestError, match=fragment.replace("(", r"\(")):
            parse_request(line)


async def test_generate_each_pattern_preview_it_and_fly_it_on_the_selected_vehicle() -> None:
    async with console() as (app, pilot, backend):
        await pilot.press("o")
        kinds = {}
        for line in (
            f"{AREAS} route alt=30",
            f"{AREAS} coverage alt=50 overlap=0.6 margin=5",
            f"{AREAS} orbit radius=40 laps=2",
            f"{AREAS} perimeter alt=40 margin=10 laps=2",  # the last one is flown
        ):
            report = await request_plan(app, pilot, line)
            assert report.error == ""
            summary = report.summary
            assert summary is not None
            kinds[summary.plan.kind] = summary
            assert summary.estimate is not None
            assert summary.estimate.distance_m > 100
        assert set(kinds) == {"route", "coverage", "orbit", "perimeter"}
        assert kinds["perimeter"].plan.params["laps"] == 2
        assert kinds["orbit"].plan.params["radius_m"] == 40
        # The file's no-fly zone is part of the plan, so the checks see it.
        assert any(not p.inclusion for p in kinds["perimeter"].plan.fence.polygons)
        assert kinds["perimeter"].violations == ()
        shown = RichConsole(width=34, record=True, file=io.StringIO())
        shown.print(report.render())
        text = shown.export_text()  # what the operator reads next to the map
        for fragment in ("perimeter", "laps=2", "length", "time", "energy", "no constraint"):
            assert fragment in text, text
        await pilot.press("f")
        await app.wait_for(lambda: isinstance(app.screen, ConfirmScreen), 20)
        items = len(kinds["perimeter"].plan.items)
        assert question(app) == f"Start patrol drone-1 with plan 'depot perimeter' ({items} items)?"
        await pilot.press("tab", "enter")
        await app.wait_for(lambda: len(backend.sent) == 1, 20)
        sent = backend.sent[0]
        assert sent.vehicle_id == "drone-1"
        assert sent.plan is not None
        assert sent.plan.kind == "perimeter"


async def test_generated_plan_with_violations_is_shown_and_refused() -> None:
    async with console() as (app, pilot, backend):
        await pilot.press("o")
        report = await request_plan(app, pilot, f"{AREAS} orbit radius=40 alt=300")
        assert report.summary is not None
        assert any("ceiling" in v or "120" in v for v in report.summary.violations), (
            report.summary.violations
        )
        await pilot.press("f")
        await pilot.pause()
        assert said(app, "violates")
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.model.plan is None
        assert backend.sent == []
        report = await request_plan(app, pilot, f"{AREAS} spiral")
        assert report.error.startswith("unknown pattern 'spiral'")
        assert report.summary is None


# ------------------------------------------------------------------ video preview


def _two_tone(vehicle_id: str, t_us: int) -> PreviewImage:
    rgb = np.zeros((120, 160, 3), dtype=np.uint8)
    rgb[:60, :, 0] = 255  # red above
    rgb[60:, :, 2] = 255  # blue below
    return PreviewImage(vehicle_id=vehicle_id, time_unix_us=t_us, rgb=rgb)


def test_half_blocks_sample_two_pixel_rows_per_cell() -> None:
    rgb = _two_tone("v", 0).rgb
    cells = half_block_cells(rgb, 8, 3)
    assert cells.shape == (6, 8, 3)
    assert (cells[:3, :, 0] == 255).all()
    assert (cells[3:, :, 2] == 255).all()


async def test_preview_of_the_selected_vehicle_is_drawn_and_stops_on_a_new_selection() -> None:
    backend = FakeConsoleBackend()
    backend.frames["drone-1"] = asyncio.Queue()
    async with console(backend) as (app, pilot, _):
        video = app.screen.query_one(VideoPreview)
        assert not video.display  # no picture yet: the layout is the one without video
        await backend.frames["drone-1"].put(_two_tone("drone-1", 1))
        await app.wait_for(lambda: video.display and video.frames_shown == 1, 20)
        await pilot.pause()
        assert video.border_title == "camera drone-1"
        top = [seg for seg in video.render_line(0) if seg.text == "▀"]
        bottom = [seg for seg in video.render_line(video.size.height - 1) if seg.text == "▀"]
        width_cells = len(top)  # the picture keeps its 4:3 aspect in the pane
        assert width_cells == min(video.size.width, round(video.size.height * 2 * 160 / 120))
        first, last = top[0], bottom[0]
        assert first.style is not None
        assert last.style is not None
        assert first.style.color == Color.from_rgb(255, 0, 0)  # upper pixel: red
        assert last.style.bgcolor == Color.from_rgb(0, 0, 255)  # lowest pixel: blue
        await backend.frames["drone-1"].put(_two_tone("drone-1", 2))
        await app.wait_for(lambda: video.frames_shown == 2, 20)
        # Another vehicle (without a camera): no picture, and drone-1 is not decoded.
        await pilot.press("down")
        await app.wait_for(lambda: app.selected_vehicle_id == "drone-2", 20)
        await app.wait_for(lambda: video.image is None and "drone-1" not in backend.watching, 20)
        assert app.model.preview is None
        await pilot.pause()
        assert video.border_title == "camera: no picture"
        drawn = [seg for y in range(video.size.height) for seg in video.render_line(y)]
        assert not any(seg.text == "▀" for seg in drawn)  # drone-1's picture is gone


# ------------------------------------------------------------------ dispatch


async def test_dispatch_asks_a_point_then_confirms_the_chosen_vehicle() -> None:
    async with console() as (app, pilot, backend):
        await pilot.press("d")
        assert isinstance(app.screen, PointScreen)
        field = app.screen.query_one(Input)
        field.value = "47.398 east"
        await pilot.press("enter")
        assert "two numbers" in str(app.screen.query_one("#error", Label).content)
        field.value = "47.398, 190"
        await pilot.press("enter")
        assert "longitude within ±180" in str(app.screen.query_one("#error", Label).content)
        field.value = "47.398, 8.546"
        await pilot.press("enter")
        await app.wait_for(lambda: isinstance(app.screen, ConfirmScreen), 20)
        assert question(app) == "Dispatch drone-1 to 47.398000, 8.546000?"
        detail = str(app.screen.query_one("#detail", Label).content)
        assert "123 m away" in detail
        assert "31 s" in detail
        await pilot.press("enter")  # Cancel has the focus
        await pilot.pause()
        assert backend.dispatched == []
        assert said(app, "Dispatch drone-1 to 47.398000, 8.546000: cancelled, nothing sent")
        await pilot.press("d")
        app.screen.query_one(Input).value = "47.398 8.546"
        await pilot.press("enter")
        await app.wait_for(lambda: isinstance(app.screen, ConfirmScreen), 20)
        await pilot.press("tab", "enter")
        await app.wait_for(lambda: said(app, "sortie 7 launched"), 20)
        assert [(p.vehicle_id, p.lat_deg, p.lon_deg) for p in backend.dispatched] == [
            ("drone-1", 47.398, 8.546)
        ]


async def test_dispatch_with_no_ready_vehicle_says_why_and_asks_nothing() -> None:
    backend = FakeConsoleBackend()
    backend.dispatch_refusal = "no vehicle can respond (drone-3: link lost)"
    async with console(backend) as (app, pilot, _):
        await pilot.press("d")
        app.screen.query_one(Input).value = "47.398, 8.546"
        await pilot.press("enter")
        await app.wait_for(lambda: said(app, "no vehicle can respond"), 20)
        severity, text = app.notices[-1]
        assert severity == "error"
        assert text == (
            "dispatch to 47.398000, 8.546000: no vehicle can respond (drone-3: link lost)"
        )
        assert not isinstance(app.screen, ConfirmScreen)
        assert backend.dispatched == []


# ------------------------------------------------------------------ command line


def test_tui_video_without_a_simulator_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from drone_ops.cli import main

    code = main(["tui", "--video", "--connect", "udpin://127.0.0.1:1", "--var", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "drone-ops tui: error: --video starts simulated cameras: give --sim N with it\n"
