"""Video preview, incident video evidence, generated patrols and dispatch, end to end.

The stack is `drone-ops tui --sim N --video`: simulated vehicles with cameras
streaming RTP/H.264 over real UDP, the recorder decoding with PyAV, the
controller (MAVSDK + pymavlink), an SQLite store with the audit chain. Keys go
in through Pilot; the results are checked in the store and the controller.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_tui_flows import TOLERANT, dialog_mounted
from textual.widgets import Input, Label

from drone_ops.cli.tui import console_stack, plan_tools
from drone_ops.incidents import Incidents
from drone_ops.link.policy import LinkState
from tui.app import DroneOpsConsole
from tui.screens.confirm import ConfirmScreen
from tui.screens.planner import PlannerScreen, PlanReport
from tui.widgets.fleet_table import FleetTable
from tui.widgets.video_preview import VideoPreview

pytestmark = pytest.mark.slow
# The demo's factor: these tests' time is key handling, not flight (20x measured no
# faster), and 10x keeps more camera frames per simulated second for the evidence.
SPEEDUP = 10.0
AREAS = Path(__file__).parents[1] / "missions" / "data" / "depot.geojson"


async def confirm_shown(app: DroneOpsConsole) -> None:
    """Tab to Confirm and Enter, once the confirmation is up with Cancel focused."""
    await app.wait_for(lambda: dialog_mounted(app), 20)
    dialog = app.screen
    assert app.focused is not None
    assert app.focused.id == "cancel"
    app.simulate_key("tab")
    await app.wait_for(lambda: app.focused is not None and app.focused.id == "confirm", 10)
    app.simulate_key("enter")
    await app.wait_for(lambda: app.screen is not dialog, 10)


async def test_live_preview_and_a_marked_incident_gets_clip_and_snapshot(tmp_path: Path) -> None:
    async with console_stack(
        sim=1,
        video=True,
        video_pre_s=2.0,
        video_post_s=2.0,
        store_url=f"sqlite:///{tmp_path}/drone-ops.db",
        var=tmp_path,
        speedup=SPEEDUP,
        config=TOLERANT,
        actor="operator:test",
        incident_refresh_s=0.5,
    ) as stack:
        app = DroneOpsConsole(stack.backend, plan_tools=plan_tools())
        async with app.run_test(size=(100, 30)) as pilot:
            await app.wait_for(lambda: app.selected_vehicle_id == "v1", 30)
            video = app.screen.query_one(VideoPreview)
            await app.wait_for(lambda: video.display and video.frames_shown >= 2, 60)
            image = app.model.preview
            assert image is not None
            assert image.vehicle_id == "v1"
            assert image.rgb.shape == (120, 160, 3)
            assert int(image.rgb.max()) > int(image.rgb.min())  # a picture, not a blank
            recorder = stack.backend.video
            assert recorder is not None
            assert recorder.ingest("v1").preview_frames_decoded >= 2

            # Pilot waits for an idle process after every key, and a process decoding video
            # is never idle: type the note into the field instead of key by key.
            await pilot.press("m")
            await app.wait_for(lambda: bool(app.screen.query("#note")), 20)
            app.screen.query_one("#note", Input).value = "person on roof"
            await pilot.press("enter")

            def marked_with_video() -> bool:
                return any(
                    i.summary == "person on roof"
                    and {e.kind for e in i.evidence} >= {"video", "snapshot"}
                    for i in app.model.incidents.values()
                )

            await app.wait_for(marked_with_video, 90)
            incident = next(
                i for i in app.model.incidents.values() if i.summary == "person on roof"
            )
            stored = await Incidents(stack.store).get(int(incident.incident_id))
            filed = [e for e in stored.evidence if e.kind in ("video", "snapshot")]
            assert len(filed) == 2
            for evidence in filed:  # the files on disk are the ones hashed and audited
                data = (stack.store.evidence_dir / evidence.path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == evidence.sha256


async def test_generated_patrol_and_a_dispatch_fly_from_the_console(tmp_path: Path) -> None:
    async with console_stack(
        sim=2,
        store_url=f"sqlite:///{tmp_path}/drone-ops.db",
        var=tmp_path,
        speedup=SPEEDUP,
        config=TOLERANT,
        actor="operator:test",
        incident_refresh_s=0.5,
    ) as stack:
        app = DroneOpsConsole(stack.backend, plan_tools=plan_tools())
        async with app.run_test(size=(100, 30)):

            def ready() -> bool:
                states = stack.fleet.states()
                tables = app.screen.query(FleetTable)
                return (
                    bool(tables)
                    and tables.first().row_count == 2
                    and len(states) == 2
                    and all(
                        s.link is LinkState.CONNECTED
                        and s.health_ok
                        and s.home is not None
                        and s.battery_pct is not None
                        for s in states.values()
                    )
                )

            await app.wait_for(ready, 60)
            await app.wait_for(lambda: app.selected_vehicle_id == "v1", 10)

            # Generate an orbit around the area file's point, from v1's home, and fly it.
            # Keys as in test_tui_flows: each waits for its effect, not for an idle process.
            app.simulate_key("o")
            await app.wait_for(
                lambda: isinstance(app.screen, PlannerScreen) and app.focused is not None, 20
            )
            screen = app.screen
            assert isinstance(screen, PlannerScreen)
            field = screen.query_one(Input)
            home = stack.fleet.state("v1").home
            assert home is not None
            assert screen.home is not None
            assert (screen.home.lat_deg, screen.home.lon_deg) == (home.lat_deg, home.lon_deg)
            field.value = f"{AREAS} orbit radius=30 alt=25"
            app.simulate_key("enter")  # generated and checked
            await app.wait_for(lambda: screen.query_one(PlanReport).summary is not None, 20)
            app.simulate_key("f")
            await confirm_shown(app)
            await app.wait_for(lambda: stack.fleet.sortie("v1") is not None, 30)
            sortie = stack.fleet.sortie("v1")
            assert sortie is not None
            assert sortie.plan.kind == "orbit"
            # Uploaded, checked and started by the controller: the vehicle flies it.
            await app.wait_for(
                lambda: app.model.vehicles["v1"].sortie in ("flying", "returning", "completed"),
                60,
            )

            # Dispatch: v1 is busy (unless already back), so the console proposes v2; the
            # vehicle named in the confirmation is exactly the one that flies.
            app.simulate_key("d")
            await app.wait_for(lambda: isinstance(app.focused, Input), 20)
            app.screen.query_one(Input).value = f"{home.lat_deg + 0.0004:.6f}, {home.lon_deg:.6f}"
            app.simulate_key("enter")
            await app.wait_for(lambda: dialog_mounted(app), 20)
            assert isinstance(app.screen, ConfirmScreen)
            question = str(app.screen.query_one("#question", Label).content)
            assert question.startswith("Dispatch v")
            chosen = question.split()[1]
            if stack.fleet.sortie("v1") is not None:
                assert chosen == "v2"  # a vehicle on a sortie is never proposed
            await confirm_shown(app)
            await app.wait_for(lambda: any("launched" in t for _, t in app.notices), 60)
            dispatched = stack.fleet.sortie(chosen)
            assert dispatched is not None
            assert dispatched.plan.kind == "dispatch"
            found = await Incidents(stack.store).query(limit=50)
            assert any(i.kind == "dispatch" and i.vehicle_id == chosen for i in found)
