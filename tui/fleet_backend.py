"""The console's backend on the in-process controller: a `Fleet` and an incident book.

State comes in through the fleet's buses (newest state per vehicle; a slow
console skips, it never slows a vehicle link); sortie progress and the
vehicles' own STATUSTEXT messages ride along. Incidents raised by rules live
in the store, which has no change feed, so the book is re-read every
`incident_refresh_s` and after every change the operator makes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from drone_ops.commands import Command
from drone_ops.dispatch import DispatchRequest, choose_vehicle, dispatch
from drone_ops.errors import DroneOpsError
from drone_ops.fleet import Fleet
from drone_ops.incidents import Incident, Incidents
from drone_ops.link.policy import LinkState
from drone_ops.sortie import SortiePhase, SortieProgress
from drone_ops.state import GpsFix, VehicleState
from telemetry.sample import TelemetrySample
from tui.backend import CommandRequest, DispatchProposal, IncidentAction, VehicleAction
from tui.model import (
    EvidenceView,
    IncidentStatus,
    IncidentView,
    PreviewImage,
    StatusText,
    Update,
    VehicleView,
)

if TYPE_CHECKING:  # PyAV loads only when a console records video
    from telemetry.video import VideoRecorder

__all__ = ["FleetBackend", "incident_view", "vehicle_view"]

_COMMANDS = {
    VehicleAction.ARM: Command.ARM,
    VehicleAction.TAKEOFF: Command.TAKEOFF,
    VehicleAction.PAUSE: Command.PAUSE,
    VehicleAction.RESUME: Command.RESUME,
    VehicleAction.GOTO: Command.GOTO,
    VehicleAction.RTL: Command.RTL,
    VehicleAction.LAND: Command.LAND,
    VehicleAction.ABORT: Command.ABORT,
}
_Offer = Callable[[Update], None]
_QUEUE_SIZE = 4096  # updates waiting for the console; full: the oldest state is dropped


class NoIncidentStoreError(DroneOpsError):
    """The console runs without an incident store."""

    def __init__(self) -> None:
        super().__init__("no incident store: start the console with --store URL (or --sim)")


def vehicle_view(state: VehicleState, progress: SortieProgress | None = None) -> VehicleView:
    """The operator's view of a controller snapshot (plus the sortie's progress, if any)."""
    speed = None
    if state.vn_m_s is not None and state.ve_m_s is not None:
        speed = math.hypot(state.vn_m_s, state.ve_m_s)
    seq, total = state.mission_seq, state.mission_total
    sortie = None
    if progress is not None:
        seq, total = progress.item, progress.total
        sortie = progress.phase.value
        if progress.phase is SortiePhase.CLOSED and progress.outcome is not None:
            sortie = progress.outcome.value
            seq = total if progress.outcome.value == "completed" else seq
    return VehicleView(
        vehicle_id=state.vehicle_id,
        mode=state.mode.value,
        armed=state.armed,
        landed_state=state.landed.value,
        lat_deg=state.lat_deg,
        lon_deg=state.lon_deg,
        rel_alt_m=state.rel_alt_m,
        ground_speed_m_s=speed,
        heading_deg=state.heading_deg,
        battery_pct=state.battery_pct,
        battery_min_left=state.battery_min_left,
        gps_fix=None if state.gps_fix is GpsFix.UNKNOWN else int(state.gps_fix),
        satellites=state.satellites,
        link_ok=state.link is not LinkState.LOST,
        link_rate_hz=state.link_rate_hz,
        link_loss_pct=state.link_loss_pct,
        mission_seq=seq,
        mission_total=total,
        sortie=sortie,
        home_lat_deg=state.home.lat_deg if state.home else None,
        home_lon_deg=state.home.lon_deg if state.home else None,
    )


def _utc(time_unix_us: int) -> str:
    return datetime.fromtimestamp(time_unix_us / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def incident_view(incident: Incident) -> IncidentView:
    try:
        status = IncidentStatus(incident.status.value)
    except ValueError:
        status = IncidentStatus.OPEN
    return IncidentView(
        incident_id=str(incident.incident_id),
        kind=incident.kind,
        severity=incident.severity.value,
        status=status,
        time_text=_utc(incident.time_unix_us),
        vehicle_id=incident.vehicle_id,
        lat_deg=incident.lat_deg,
        lon_deg=incident.lon_deg,
        summary=incident.summary,
        notes=tuple(f"{n.actor}: {n.text}" for n in incident.notes),
        evidence=tuple(
            EvidenceView(kind=e.kind, path=e.path, sha256=e.sha256) for e in incident.evidence
        ),
    )


@dataclass(slots=True)
class _Seen:
    """The newest STATUSTEXT already passed on, by its receive time."""

    mono: float = -math.inf


class FleetBackend:
    """`ConsoleBackend` over a running `Fleet` and (optionally) an incident book."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        incidents: Incidents | None = None,
        actor: str = "operator",
        incident_refresh_s: float = 2.0,
        video: VideoRecorder | None = None,
        preview_fps: float = 4.0,
        dispatch_hold_s: float = 300.0,
    ) -> None:
        self.fleet = fleet
        self.incidents = incidents
        self.video = video
        self.preview_fps = preview_fps
        self.dispatch_hold_s = dispatch_hold_s
        self._started_us = time.time_ns() // 1000  # older incidents get no new footage
        self.actor = actor
        self.incident_refresh_s = incident_refresh_s
        self._progress: dict[str, SortieProgress] = {}
        self._texts_seen: dict[str, _Seen] = {}
        self._incidents_changed = asyncio.Event()
        self.dropped = 0  # updates discarded because the console fell behind

    # ------------------------------------------------------------ feed
    async def updates(self) -> AsyncIterator[Update]:
        queue: asyncio.Queue[Update] = asyncio.Queue(maxsize=_QUEUE_SIZE)

        def offer(update: Update) -> None:
            if queue.full():  # keep newest: the console only shows the latest state
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(update)

        for state in self.fleet.states().values():
            self._vehicle_updates(state, offer)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._pump_states(offer), name="tui-feed-states")
            tg.create_task(self._pump_progress(offer), name="tui-feed-progress")
            if self.incidents is not None:
                tg.create_task(self._pump_incidents(offer), name="tui-feed-incidents")
            while True:
                yield await queue.get()

    def _vehicle_updates(self, state: VehicleState, offer: _Offer) -> None:
        offer(vehicle_view(state, self._progress.get(state.vehicle_id)))
        try:
            texts = self.fleet.session(state.vehicle_id).statustexts
        except DroneOpsError:
            return
        seen = self._texts_seen.setdefault(state.vehicle_id, _Seen())
        if texts and texts[-1].mono > seen.mono:
            for t in texts:
                if t.mono > seen.mono:
                    offer(StatusText(vehicle_id=state.vehicle_id, severity=t.severity, text=t.text))
            seen.mono = texts[-1].mono

    async def _pump_states(self, offer: _Offer) -> None:
        async with self.fleet.subscribe_states("tui", maxsize=_QUEUE_SIZE) as sub:
            async for state in sub:
                self._vehicle_updates(state, offer)

    async def _pump_progress(self, offer: _Offer) -> None:
        async with self.fleet.subscribe_progress("tui") as sub:
            async for progress in sub:
                self._progress[progress.vehicle_id] = progress
                try:
                    state = self.fleet.state(progress.vehicle_id)
                except DroneOpsError:
                    continue
                offer(vehicle_view(state, progress))
                if progress.phase is SortiePhase.CLOSED and progress.outcome is not None:
                    ok = progress.outcome.value == "completed"
                    text = f"sortie {progress.sortie_id} {progress.outcome.value}"
                    if progress.message:
                        text += f": {progress.message}"
                    offer(
                        StatusText(
                            vehicle_id=progress.vehicle_id, severity=6 if ok else 4, text=text
                        )
                    )

    async def _pump_incidents(self, offer: _Offer) -> None:
        assert self.incidents is not None
        shown: dict[int, tuple[object, ...]] = {}
        awaiting_video: set[int] = set()  # footage is cut after the incident: look again
        while True:
            found = await self.incidents.query(limit=200)
            for inc in found:
                key = (inc.status, inc.updated_us)
                iid = inc.incident_id
                if shown.get(iid) != key or iid in awaiting_video:
                    full = await self.incidents.get(iid)  # with notes and evidence
                    view = incident_view(full)
                    if shown.get(iid) != key or not self._awaits_video(view):
                        offer(view)
                    shown[iid] = key
                    if self._awaits_video(view) and inc.time_unix_us >= self._started_us:
                        awaiting_video.add(iid)
                    else:
                        awaiting_video.discard(iid)
            self._incidents_changed.clear()
            try:
                async with asyncio.timeout(self.incident_refresh_s):
                    await self._incidents_changed.wait()
            except TimeoutError:
                pass

    def _awaits_video(self, view: IncidentView) -> bool:
        """A recorded vehicle's incident whose clip is neither filed nor explained yet."""
        if self.video is None or view.vehicle_id not in self.video.ingests:
            return False
        if any(e.kind in ("video", "snapshot") for e in view.evidence):
            return False
        return not any("no video evidence" in n for n in view.notes)

    # ------------------------------------------------------------ commands
    async def send(self, request: CommandRequest) -> None:
        vid = request.vehicle_id
        if request.action is VehicleAction.START_PATROL:
            assert request.plan is not None  # CommandRequest checks it
            self.fleet.start_sortie(vid, request.plan, actor=self.actor)
            return
        command = _COMMANDS[request.action]
        if request.action is VehicleAction.TAKEOFF:
            await self.fleet.command(vid, command, actor=self.actor, rel_alt_m=request.alt_m)
        elif request.action is VehicleAction.GOTO:
            await self.fleet.command(
                vid,
                command,
                actor=self.actor,
                lat_deg=request.lat_deg,
                lon_deg=request.lon_deg,
                rel_alt_m=request.alt_m,
            )
        else:
            await self.fleet.command(vid, command, actor=self.actor)

    # ------------------------------------------------------------ incidents
    def _book(self) -> Incidents:
        if self.incidents is None:
            raise NoIncidentStoreError()
        return self.incidents

    async def raise_incident(self, vehicle_id: str, note: str) -> IncidentView:
        book = self._book()
        state = self.fleet.state(vehicle_id)
        at = None
        if state.lat_deg is not None and state.lon_deg is not None:
            at = TelemetrySample(
                vehicle_id=vehicle_id,
                time_unix_us=time.time_ns() // 1000,
                boot_time_ms=state.boot_time_ms or 0,
                lat_deg=state.lat_deg,
                lon_deg=state.lon_deg,
                alt_amsl_m=state.alt_amsl_m,
                rel_alt_m=state.rel_alt_m,
            )
        incident = await book.mark(
            vehicle_id=vehicle_id, note=note or "operator mark", actor=self.actor, at=at
        )
        self._incidents_changed.set()
        return incident_view(incident)

    async def update_incident(
        self, incident_id: str, action: IncidentAction, note: str = ""
    ) -> IncidentView:
        book = self._book()
        try:
            number = int(incident_id)
        except ValueError:
            raise DroneOpsError(f"incident id {incident_id!r} is not a number") from None
        if action is IncidentAction.ACKNOWLEDGE:
            incident = await book.acknowledge(number, actor=self.actor, note=note or None)
        elif action is IncidentAction.RESOLVE:
            incident = await book.resolve(number, actor=self.actor, note=note or None)
        else:
            incident = await book.add_note(number, note, actor=self.actor)
        self._incidents_changed.set()
        return incident_view(await book.get(incident.incident_id))

    # ------------------------------------------------------------ dispatch
    def _busy(self) -> set[str]:
        return {v for v in self.fleet.vehicles() if self.fleet.sortie(v) is not None}

    async def propose_dispatch(self, lat_deg: float, lon_deg: float) -> DispatchProposal:
        req = DispatchRequest(lat_deg=lat_deg, lon_deg=lon_deg, hold_s=self.dispatch_hold_s)
        choice = choose_vehicle(self.fleet.states(), req, busy=self._busy())
        return DispatchProposal(
            vehicle_id=choice.vehicle_id,
            lat_deg=lat_deg,
            lon_deg=lon_deg,
            distance_m=choice.distance_m,
            arrive_s=choice.arrive_s,
            need_wh=choice.need_wh,
            available_wh=choice.available_wh,
        )

    async def dispatch(self, proposal: DispatchProposal) -> str:
        """Dispatch exactly the confirmed vehicle: every other one counts as busy, so a
        vehicle that stopped qualifying since the proposal is refused, not swapped."""
        req = DispatchRequest(
            lat_deg=proposal.lat_deg,
            lon_deg=proposal.lon_deg,
            hold_s=self.dispatch_hold_s,
            reason=f"console dispatch by {self.actor}",
        )
        others = set(self.fleet.vehicles()) - {proposal.vehicle_id}
        report = await dispatch(
            self.fleet,
            req,
            incidents=self.incidents,
            actor=self.actor,
            busy=others,
            wait_arrival=False,
        )
        self._incidents_changed.set()
        line = f"sortie {report.sortie_id} launched"
        if report.incident_id is not None:
            line += f", incident {report.incident_id}"
        return line

    # ------------------------------------------------------------ video
    async def video_frames(self, vehicle_id: str) -> AsyncIterator[PreviewImage]:
        """The recorder decodes this vehicle's stream only while this runs; pictures are
        passed on at most `preview_fps` times a second (newest only)."""
        recorder = self.video
        if recorder is None or vehicle_id not in recorder.ingests:
            return
        last = None
        with recorder.watch_preview(vehicle_id):
            while True:
                frame = recorder.preview(vehicle_id)
                if frame is not None and frame.time_unix_us != last:
                    last = frame.time_unix_us
                    yield PreviewImage(
                        vehicle_id=vehicle_id, time_unix_us=frame.time_unix_us, rgb=frame.rgb
                    )
                await asyncio.sleep(1.0 / self.preview_fps)  # the pace of the preview
