"""The patrol runner: one `Sortie` = one flight of one plan by one vehicle, recorded.

upload (mission, fence, rally) → download and compare → preflight → arm →
start → follow progress → RTL/land at the end → wait for disarm → close with
an outcome and the tlog. Pause, resume and abort work at any point. While the
link is lost the runner sends nothing (the vehicle's own failsafe acts); when
it comes back, it reads mode and mission progress again and carries on.

While the store is down the audit chain waits (a command is delayed, never
sent unrecorded; see `drone_ops.store.durable`). If an event still cannot be
written, the runner does not stop watching the vehicle for it: the event is
kept, with the time it happened, and written before the sortie is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from drone_ops.audit import AuditLog
from drone_ops.commands import CommandFailed, LinkDown, VehicleError
from drone_ops.geofence import distance_m
from drone_ops.lease import LeaseLostError
from drone_ops.link.policy import LinkState
from drone_ops.preflight import PreflightFailed, run_preflight
from drone_ops.session import MissionMismatch, VehicleSession
from drone_ops.state import FlightMode, VehicleState
from drone_ops.store.errors import StoreError
from drone_ops.store.records import SortieOutcome, now_us
from missions.energy import estimate_flight
from missions.mavlink import MavCmd, mission_items
from missions.plan import ItemKind, PatrolPlan
from telemetry.bus import Bus
from telemetry.errors import BusClosedError

__all__ = [
    "MemorySortieRecorder",
    "Sortie",
    "SortieOutcome",
    "SortiePhase",
    "SortieProgress",
    "SortieRecorder",
    "SortieResult",
]

_log = logging.getLogger(__name__)

_NAV_COMMANDS = {int(c) for c in MavCmd if int(c) < 100}
_RETURNING = (FlightMode.AUTO_RTL, FlightMode.AUTO_LAND, FlightMode.AUTO_PRECLAND)


class SortieRecorder(Protocol):
    """Where sorties are recorded. `drone_ops.store.Store` implements it."""

    async def open_sortie(
        self,
        *,
        vehicle_id: str,
        plan_name: str,
        plan_json: str | Mapping[str, Any],
        actor: str = "controller",
        started_us: int | None = None,
        tlog_path: str | None = None,
        controller: str | None = None,
    ) -> int: ...

    async def close_sortie(
        self,
        sortie_id: int,
        *,
        outcome: SortieOutcome | str,
        actor: str = "controller",
        ended_us: int | None = None,
        tlog_path: str | None = None,
    ) -> Any: ...


@dataclass(slots=True, kw_only=True)
class _MemoryRow:
    sortie_id: int
    vehicle_id: str
    plan_name: str
    tlog_path: str | None
    outcome: SortieOutcome | None = None


class MemorySortieRecorder:
    """Sorties in memory, for runs without a store."""

    def __init__(self) -> None:
        self.rows: dict[int, _MemoryRow] = {}

    async def open_sortie(
        self,
        *,
        vehicle_id: str,
        plan_name: str,
        plan_json: str | Mapping[str, Any],
        actor: str = "controller",
        started_us: int | None = None,
        tlog_path: str | None = None,
        controller: str | None = None,
    ) -> int:
        sortie_id = len(self.rows) + 1
        self.rows[sortie_id] = _MemoryRow(
            sortie_id=sortie_id, vehicle_id=vehicle_id, plan_name=plan_name, tlog_path=tlog_path
        )
        return sortie_id

    async def close_sortie(
        self,
        sortie_id: int,
        *,
        outcome: SortieOutcome | str,
        actor: str = "controller",
        ended_us: int | None = None,
        tlog_path: str | None = None,
    ) -> _MemoryRow:
        row = self.rows[sortie_id]
        row.outcome = SortieOutcome(outcome)
        if tlog_path is not None:
            row.tlog_path = tlog_path
        return row


class SortiePhase(StrEnum):
    UPLOADING = "uploading"
    PREFLIGHT = "preflight"
    ARMING = "arming"
    FLYING = "flying"
    PAUSED = "paused"
    RETURNING = "returning"
    LINK_LOST = "link_lost"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SortieProgress:
    """What a display shows about a running sortie."""

    vehicle_id: str
    sortie_id: int
    plan_name: str
    phase: SortiePhase
    item: int | None  # 1-based index of the current mission item
    total: int
    distance_to_go_m: float | None
    battery_pct: float | None
    mode: str
    outcome: SortieOutcome | None = None
    message: str = ""

    def line(self) -> str:
        """One progress line for a headless display."""
        item = "-" if self.item is None else str(self.item)
        dist = "-" if self.distance_to_go_m is None else f"{self.distance_to_go_m:.0f} m"
        batt = "-" if self.battery_pct is None else f"{self.battery_pct:.0f} %"
        text = (
            f"{self.vehicle_id}: {self.phase.value:<9} item {item}/{self.total} "
            f"to go {dist:>7}  battery {batt:>5}  mode {self.mode}"
        )
        if self.outcome is not None:
            text += f"  outcome {self.outcome.value}"
        if self.message:
            text += f"  {self.message}"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class SortieResult:
    sortie_id: int
    vehicle_id: str
    plan_name: str
    outcome: SortieOutcome
    reason: str
    tlog_path: Path | None
    events: tuple[str, ...] = field(default=())
    landed_and_disarmed: bool = False
    recorded: bool = True  # False: the store could not take the sortie's record (see reason)


class _Stop(Exception):
    """Ends the sortie with an outcome."""

    def __init__(self, outcome: SortieOutcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class Sortie:
    """Runs one plan on one vehicle. Create, then `await sortie.run()` (or via `Fleet`)."""

    def __init__(
        self,
        session: VehicleSession,
        plan: PatrolPlan,
        *,
        recorder: SortieRecorder,
        audit: AuditLog,
        tlog_dir: Path | None = None,
        actor: str = "controller",
        progress_bus: Bus[SortieProgress] | None = None,
    ) -> None:
        self.session = session
        self.plan = plan
        self._recorder = recorder
        self._audit = audit
        self._tlog_dir = tlog_dir
        self._actor = actor
        self._bus = progress_bus
        self._items = mission_items(plan)
        self._nav_seqs = [i.seq for i in self._items if int(i.command) in _NAV_COMMANDS]
        last_kind = plan.items[-1].kind
        self._ends_with_return = last_kind in (ItemKind.RETURN_TO_LAUNCH, ItemKind.LAND)
        self.sortie_id = 0
        self.phase = SortiePhase.UPLOADING
        self.events: list[str] = []
        self._abort = asyncio.Event()
        self._paused = False
        self._we_commanded_return = False
        self._lost_since: float | None = None
        self._seen_events = 0
        self._mission_done = False
        self._return_cause: tuple[SortieOutcome, str] | None = None
        self._latest: SortieProgress | None = None
        # Events the audit chain could not take yet (time, actor, text), written in order.
        self._unwritten: list[tuple[int, str, str]] = []
        # A sortie running far past its estimate (a stuck loiter, a mission that never
        # ends) is brought home rather than left in the air.
        self._budget_s = 2.0 * estimate_flight(plan).time_s + 120.0

    # ------------------------------------------------------------ operator controls
    @property
    def vehicle_id(self) -> str:
        return self.session.vehicle_id

    @property
    def progress(self) -> SortieProgress | None:
        return self._latest

    async def pause(self, *, actor: str | None = None) -> None:
        """Hold position; the mission resumes from the current item with `resume`."""
        await self.session.pause(actor=actor or self._actor)
        self._paused = True
        await self._event("paused", actor=actor)
        self._set_phase(SortiePhase.PAUSED)

    async def resume(self, *, actor: str | None = None) -> None:
        await self.session.resume(actor=actor or self._actor)
        self._paused = False
        await self._event("resumed", actor=actor)
        self._set_phase(SortiePhase.FLYING)

    async def abort(self, *, actor: str | None = None) -> None:
        """Return to launch now; the sortie closes as aborted once the vehicle is down."""
        self._abort.set()
        self._we_commanded_return = True
        await self.session.abort(actor=actor or self._actor)
        await self._event("aborted by operator", actor=actor)

    # ------------------------------------------------------------ the run
    async def run(self) -> SortieResult:
        s = self.session
        tlog_path: Path | None = None
        if self._tlog_dir is not None:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            tlog_path = self._tlog_dir / f"{s.vehicle_id}-{stamp}-{id(self) & 0xFFFF:04x}.tlog"
        try:
            self.sortie_id = await self._recorder.open_sortie(
                vehicle_id=s.vehicle_id,
                plan_name=self.plan.name,
                plan_json=_plan_json(self.plan),
                actor=self._actor,
                tlog_path=str(tlog_path) if tlog_path else None,
            )
        except StoreError as exc:  # nothing was sent: an unrecorded sortie is not flown
            reason = f"not flown: {exc}"
            self._set_phase(SortiePhase.CLOSED, outcome=SortieOutcome.REFUSED, message=reason)
            return SortieResult(
                sortie_id=0,
                vehicle_id=s.vehicle_id,
                plan_name=self.plan.name,
                outcome=SortieOutcome.REFUSED,
                reason=reason,
                tlog_path=None,
                recorded=False,
            )
        outcome, reason = SortieOutcome.ERROR, "the controller stopped"
        recorded = True
        async with s.recording(tlog_path) if tlog_path else contextlib.nullcontext():
            try:
                await self._fly()
                outcome, reason = SortieOutcome.COMPLETED, "patrol flown, landed and disarmed"
            except _Stop as stop:
                outcome, reason = stop.outcome, stop.reason
            except (PreflightFailed, MissionMismatch) as exc:
                outcome, reason = SortieOutcome.REFUSED, str(exc)
            # Refused before take-off, else an error in flight: a vehicle error, a lost
            # lease, or the store down past its bound (each a one-line reason).
            except (VehicleError, LeaseLostError, StoreError) as exc:
                before = (SortiePhase.UPLOADING, SortiePhase.PREFLIGHT, SortiePhase.ARMING)
                refused = self.phase in before and not s.state.in_air
                outcome = SortieOutcome.REFUSED if refused else SortieOutcome.ERROR
                reason = str(exc)
                # A lost lease hands the vehicle to another controller: no RTL from us.
                if not refused and not isinstance(exc, LeaseLostError):
                    await self._safe_return()
            except Exception as exc:  # a controller bug must still close the record
                _log.exception("%s: sortie failed", s.vehicle_id)
                outcome, reason = SortieOutcome.ERROR, f"controller error: {exc!r}"
                await self._safe_return()
            finally:
                final = s.state
                landed = not final.armed and not final.in_air
                not_recorded = await asyncio.shield(self._close(outcome, reason, tlog_path))
                if not_recorded is not None:
                    recorded = False
                    reason = f"{reason}; {not_recorded}"
        self._set_phase(SortiePhase.CLOSED, outcome=outcome, message=reason)
        return SortieResult(
            sortie_id=self.sortie_id,
            vehicle_id=s.vehicle_id,
            plan_name=self.plan.name,
            outcome=outcome,
            reason=reason,
            tlog_path=tlog_path,
            events=tuple(self.events),
            landed_and_disarmed=landed,
            recorded=recorded,
        )

    async def _safe_return(self) -> None:
        """After an error in flight, bring the vehicle home if it is still up there.

        If the store cannot record the RTL request either, it is not sent: the
        uploaded plan ends with its own return (generators always add one) and
        PX4's failsafes stay armed, so the vehicle still comes down.
        """
        state = self.session.state
        if not state.in_air or self._we_commanded_return or state.link is not LinkState.CONNECTED:
            return
        self._we_commanded_return = True
        await self._event("error in flight; returning to launch")
        try:
            await self.session.return_to_launch(actor=self._actor)
        except VehicleError:
            pass
        except StoreError as exc:
            _log.error("%s: return to launch not sent: %s", self.vehicle_id, exc)

    async def _close(self, outcome: SortieOutcome, reason: str, tlog: Path | None) -> str | None:
        """Write the events still pending, then close the record; None, or why it failed."""
        text = f"closed: {outcome.value}: {reason}"
        self.events.append(text)
        _log.info("%s sortie %s: %s", self.vehicle_id, self.sortie_id, text)
        self._unwritten.append((now_us(), self._actor, text))
        try:
            await self._write_unwritten()
            await self._recorder.close_sortie(
                self.sortie_id,
                outcome=outcome,
                actor=self._actor,
                tlog_path=str(tlog) if tlog else None,
            )
        except StoreError as exc:
            _log.error("%s sortie %s: not recorded: %s", self.vehicle_id, self.sortie_id, exc)
            return f"not recorded: {exc}"
        return None

    async def _fly(self) -> None:
        s = self.session
        cfg = s.config
        self._set_phase(SortiePhase.UPLOADING)
        await s.upload_plan(self.plan, actor=self._actor)
        s.reset_mission_progress()
        await self._event(f"plan uploaded and verified ({len(self._items)} mission items)")

        self._set_phase(SortiePhase.PREFLIGHT)
        failed = [c for c in run_preflight(s.state, self.plan, cfg) if not c.ok]
        if failed:
            raise PreflightFailed(s.vehicle_id, failed)
        await self._event("preflight passed")

        self._set_phase(SortiePhase.ARMING)
        await s.arm(actor=self._actor)
        await s.start_mission(actor=self._actor)
        await self._event("armed, mission started")
        self._set_phase(SortiePhase.FLYING)
        await self._follow()

    async def _follow(self) -> None:
        """Watch the vehicle until it is down and disarmed after flying."""
        s = self.session
        cfg = s.config
        airborne = False
        started = time.monotonic()
        takeoff_wall_s = cfg.wall_s(cfg.timeouts.state_change_s)
        self._seen_events = s.link_event_count
        while True:
            state = s.state
            self._publish(state)
            await self._link_events(state)
            if state.link is LinkState.LOST:
                if time.monotonic() - (self._lost_since or time.monotonic()) > cfg.wall_s(
                    cfg.timeouts.link_recovery_s
                ):
                    raise _Stop(
                        SortieOutcome.LINK_LOST,
                        f"link lost for more than {cfg.timeouts.link_recovery_s:.0f} s; "
                        "the vehicle's failsafe is in charge",
                    )
            else:
                if state.in_air:
                    airborne = True
                self._track_mission(state)
                await self._check_return(state)
                if airborne and not state.armed and not state.in_air:
                    self._finish(state)
                    return
                if not airborne and time.monotonic() - started > takeoff_wall_s:
                    raise _Stop(
                        SortieOutcome.ERROR,
                        f"vehicle did not take off within {cfg.timeouts.state_change_s:.0f} s",
                    )
                overran = (time.monotonic() - started) * cfg.speedup > self._budget_s
                if (
                    overran
                    and not self._paused  # an operator holding the vehicle decides when it goes on
                    and not self._we_commanded_return
                    and state.mode not in _RETURNING
                ):
                    self._we_commanded_return = True
                    self._return_cause = (
                        SortieOutcome.ABORTED,
                        f"sortie overran twice its estimated time ({self._budget_s:.0f} s); "
                        "returned to launch",
                    )
                    await self._event("sortie overran its time budget; returning to launch")
                    with contextlib.suppress(CommandFailed, LinkDown):
                        await s.return_to_launch(actor=self._actor)
                if (
                    self._mission_done
                    and not self._ends_with_return
                    and not self._we_commanded_return
                    and state.mode not in _RETURNING
                ):
                    self._we_commanded_return = True
                    await self._event("mission finished; returning to launch")
                    with contextlib.suppress(CommandFailed, LinkDown):
                        await s.return_to_launch(actor=self._actor)
            await s.next_change()

    async def _link_events(self, state: VehicleState) -> None:
        """Record what happened to the link since the last look (events are never missed)."""
        events = self.session.link_events_since(self._seen_events)
        self._seen_events += len(events)
        for ev in events:
            if ev.kind == "lost":
                self._lost_since = time.monotonic()
                self._set_phase(SortiePhase.LINK_LOST)
                await self._event(
                    f"link lost in {state.mode.value} at item "
                    f"{(state.mission_seq or 0) + 1}/{len(self._items)} ({ev.detail}); "
                    "the vehicle's failsafe acts"
                )
            elif ev.kind == "recovered":
                lost_s = time.monotonic() - (self._lost_since or time.monotonic())
                self._lost_since = None
                await self._event(
                    f"link recovered after {lost_s * self.session.config.speedup:.1f} s; "
                    f"resync: mode {state.mode.value}, item "
                    f"{(state.mission_seq or 0) + 1}/{len(self._items)}, "
                    f"{'armed' if state.armed else 'disarmed'}, {state.landed.value}"
                )
                down = not state.armed and not state.in_air
                if (
                    (state.mode in _RETURNING or down)
                    and not self._we_commanded_return
                    and not self._mission_done
                    and self._return_cause is None
                ):
                    where = "landed and disarmed" if down else f"in {state.mode.value}"
                    self._return_cause = (
                        SortieOutcome.LINK_LOST,
                        f"link lost; the vehicle's failsafe took over (found {where})",
                    )
                    await self._event(f"failsafe during link loss: vehicle {where}")
                returning = state.mode in _RETURNING
                self._set_phase(SortiePhase.RETURNING if returning else SortiePhase.FLYING)
            else:  # rebooted, system_id_changed: noticed and recorded
                await self._event(f"vehicle {ev.kind.replace('_', ' ')}: {ev.detail}")

    def _track_mission(self, state: VehicleState) -> None:
        last_nav = self._nav_seqs[-1] if self._nav_seqs else len(self._items) - 1
        on_final_return = (
            self._ends_with_return
            and state.mission_seq is not None
            and state.mission_seq >= last_nav
        )
        if on_final_return and self.phase is SortiePhase.FLYING:
            self._set_phase(SortiePhase.RETURNING)  # the plan's own RTL/land item
        if self._mission_done:
            return
        if (state.mission_reached is not None and state.mission_reached >= last_nav) or (
            self._ends_with_return
            and state.mission_seq is not None
            and state.mission_seq >= last_nav
            and state.mode in _RETURNING
        ):
            self._mission_done = True

    async def _check_return(self, state: VehicleState) -> None:
        """A return the runner did not ask for, before the patrol was done, is a failsafe."""
        if state.mode not in _RETURNING or self._return_cause is not None:
            return
        if self._abort.is_set():
            self._return_cause = (SortieOutcome.ABORTED, "aborted by operator; returned to launch")
            self._set_phase(SortiePhase.RETURNING)
            return
        if self._mission_done or self._we_commanded_return:
            self._set_phase(SortiePhase.RETURNING)
            return
        why = _failsafe_text(self.session) or f"vehicle switched to {state.mode.value} on its own"
        self._return_cause = (SortieOutcome.FAILSAFE, f"failsafe: {why}")
        self._set_phase(SortiePhase.RETURNING)
        await self._event(f"failsafe: {why}")

    def _finish(self, state: VehicleState) -> None:
        if self._return_cause is not None:
            raise _Stop(*self._return_cause)
        if self._abort.is_set():  # aborted before the vehicle was seen returning
            raise _Stop(SortieOutcome.ABORTED, "aborted by operator; landed and disarmed")
        if not self._mission_done:
            raise _Stop(
                SortieOutcome.FAILSAFE,
                f"vehicle landed and disarmed at item {(state.mission_seq or 0) + 1}"
                f"/{len(self._items)} before the patrol was done",
            )

    # ------------------------------------------------------------ records and progress
    async def _event(self, text: str, *, actor: str | None = None) -> None:
        """Record an event; if the store cannot take it, keep it for later (in order)."""
        self.events.append(text)
        _log.info("%s sortie %s: %s", self.vehicle_id, self.sortie_id, text)
        self._unwritten.append((now_us(), actor or self._actor, text))
        if len(self._unwritten) > 1:
            return  # the store already failed once: `_close` writes them all
        try:
            await self._write_unwritten()
        except StoreError as exc:
            _log.warning(
                "%s sortie %s: event kept until the store is back: %s",
                self.vehicle_id,
                self.sortie_id,
                exc,
            )

    async def _write_unwritten(self) -> None:
        """Append the pending events in the order they happened.

        Each says when it happened (`happened_us`): the entry's own time is when
        the chain took it, later than that if the store was down.
        """
        while self._unwritten:
            at_us, actor, text = self._unwritten[0]
            await self._audit.append(
                actor=actor,
                action="sortie.event",
                target=f"sortie:{self.sortie_id}",
                payload={"vehicle_id": self.vehicle_id, "event": text, "happened_us": at_us},
            )
            del self._unwritten[0]

    def _set_phase(
        self, phase: SortiePhase, *, outcome: SortieOutcome | None = None, message: str = ""
    ) -> None:
        self.phase = phase
        self._publish(self.session.state, outcome=outcome, message=message)

    def _publish(
        self, state: VehicleState, *, outcome: SortieOutcome | None = None, message: str = ""
    ) -> None:
        seq = state.mission_seq
        progress = SortieProgress(
            vehicle_id=self.vehicle_id,
            sortie_id=self.sortie_id,
            plan_name=self.plan.name,
            phase=self.phase,
            item=None if seq is None else min(seq + 1, len(self._items)),
            total=len(self._items),
            distance_to_go_m=self._distance_to_go(state),
            battery_pct=state.battery_pct,
            mode=state.mode.value,
            outcome=outcome,
            message=message,
        )
        if progress == self._latest:
            return
        self._latest = progress
        if self._bus is not None:
            with contextlib.suppress(BusClosedError):
                self._bus.publish(progress)

    def _distance_to_go(self, state: VehicleState) -> float | None:
        if state.lat_deg is None or state.lon_deg is None:
            return None
        seq = state.mission_seq or 0
        points = [
            (i.lat_deg, i.lon_deg)
            for i in self._items
            if i.seq >= seq and int(i.command) in _NAV_COMMANDS and (i.x or i.y)
        ]
        if self._mission_done or not points:
            home = state.home
            if home is None:
                return None
            return distance_m(state.lat_deg, state.lon_deg, home.lat_deg, home.lon_deg)
        total = distance_m(state.lat_deg, state.lon_deg, *points[0])
        for a, b in itertools.pairwise(points):
            total += distance_m(*a, *b)
        return total


def _failsafe_text(session: VehicleSession) -> str | None:
    for text in reversed(session.statustexts):
        low = text.text.lower()
        if "failsafe" in low or "battery" in low or "returning" in low or "landing" in low:
            return text.text
    return None


def _plan_json(plan: PatrolPlan) -> dict[str, Any]:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    shallow = copy.copy(plan)  # asdict cannot deep-copy the params mappingproxy
    object.__setattr__(shallow, "params", dict(plan.params))
    data = asdict(shallow)
    result: dict[str, Any] = json.loads(json.dumps(clean(data), default=str))
    return result
