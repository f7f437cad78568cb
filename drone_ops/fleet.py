"""`Fleet`: the controller's public API for many vehicles at once.

The TUI and the scheduler drive vehicles only through this class:

    async with Fleet(audit=audit, recorder=store) as fleet:
        await fleet.add_vehicle("v1", "px4:0")
        fleet.states()                        # {vehicle id: VehicleState}
        async with fleet.subscribe_states("tui") as sub:  # newest state per publish
            ...
        await fleet.command("v1", Command.RTL, actor="officer:42")
        sortie = fleet.start_sortie("v1", plan)           # runs in the fleet's TaskGroup
        result = await fleet.sortie_result("v1")

One MAVSDK instance (`MavsdkHub`) serves every vehicle; each vehicle is a
`VehicleSession`; each running sortie is a named task in the fleet's
TaskGroup. Leaving the fleet stops sorties (the vehicles keep flying their
own failsafes) and closes every link.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from drone_ops.audit import AuditLog
from drone_ops.commands import Command, VehicleError
from drone_ops.config import ControllerConfig
from drone_ops.errors import DroneOpsError
from drone_ops.link.address import LinkAddress
from drone_ops.link.hub import MavsdkHub
from drone_ops.roles import Action, PermissionDenied, Principal, authorize, check, record_refusal
from drone_ops.session import VehicleSession
from drone_ops.sortie import (
    MemorySortieRecorder,
    Sortie,
    SortieProgress,
    SortieRecorder,
    SortieResult,
)
from drone_ops.state import VehicleState
from missions.plan import PatrolPlan
from telemetry.bus import Bus, Policy, Subscription
from telemetry.sample import TelemetrySample

__all__ = ["Fleet", "FleetError"]


class FleetError(DroneOpsError):
    """A fleet-level request cannot be served (unknown vehicle, sortie already running)."""


class Fleet:
    """Supervises vehicle sessions and sorties; the API the TUI and scheduler build on."""

    def __init__(
        self,
        *,
        audit: AuditLog,
        config: ControllerConfig | None = None,
        recorder: SortieRecorder | None = None,
        sample_bus: Bus[TelemetrySample] | None = None,
        tlog_dir: Path | None = None,
        actor: str = "controller",
        principal: Principal | None = None,
    ) -> None:
        # A person driving this fleet (CLI, TUI, serve): commands and sorties are
        # checked against their role and recorded under it. None: the system itself.
        self.principal = principal
        if principal is not None:
            actor = principal.audit_actor
        self.config = config or ControllerConfig()
        self.audit = audit
        self.recorder: SortieRecorder = recorder or MemorySortieRecorder()
        self._sample_bus = sample_bus
        self._tlog_dir = tlog_dir
        self._actor = actor
        self._stack = AsyncExitStack()
        self._hub = MavsdkHub()
        self._tg: asyncio.TaskGroup | None = None
        self._sessions: dict[str, VehicleSession] = {}
        self._session_stacks: dict[str, AsyncExitStack] = {}
        self._sorties: dict[str, Sortie] = {}
        self._sortie_tasks: dict[str, asyncio.Task[SortieResult]] = {}
        self.state_bus: Bus[VehicleState] = Bus()
        self.progress_bus: Bus[SortieProgress] = Bus()

    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        try:
            await self._stack.enter_async_context(self._hub)
            self._stack.callback(self.state_bus.close)
            self._stack.callback(self.progress_bus.close)
            self._tg = await self._stack.enter_async_context(asyncio.TaskGroup())
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._sortie_tasks.values():
            task.cancel()
        for vid in list(self._session_stacks):
            await self._session_stacks.pop(vid).aclose()
        self._sessions.clear()
        await self._stack.__aexit__(et, e, tb)

    # ------------------------------------------------------------ vehicles
    async def add_vehicle(
        self,
        vehicle_id: str,
        address: str | LinkAddress,
        *,
        system_id: int | None = None,
        wait: bool = True,
        signing_key: bytes | None = None,
    ) -> VehicleSession:
        """Open a session; with `wait`, return once the vehicle is connected."""
        if vehicle_id in self._sessions:
            raise FleetError(f"vehicle {vehicle_id} is already in the fleet")
        session = VehicleSession(
            vehicle_id,
            address,
            hub=self._hub,
            audit=self.audit,
            config=self.config,
            state_bus=self.state_bus,
            sample_bus=self._sample_bus,
            actor=self._actor,
            system_id=system_id,
            signing_key=signing_key,
        )
        stack = AsyncExitStack()
        await stack.enter_async_context(session)
        self._sessions[vehicle_id] = session
        self._session_stacks[vehicle_id] = stack
        if wait:
            try:
                await session.wait_connected()
            except BaseException:
                await self.remove_vehicle(vehicle_id)
                raise
        return session

    async def remove_vehicle(self, vehicle_id: str) -> None:
        task = self._sortie_tasks.get(vehicle_id)
        if task is not None and not task.done():
            raise FleetError(f"vehicle {vehicle_id} is flying a sortie; abort it first")
        self.session(vehicle_id)
        del self._sessions[vehicle_id]
        await self._session_stacks.pop(vehicle_id).aclose()

    def vehicles(self) -> list[str]:
        return list(self._sessions)

    def session(self, vehicle_id: str) -> VehicleSession:
        try:
            return self._sessions[vehicle_id]
        except KeyError:
            known = ", ".join(self._sessions) or "none"
            raise FleetError(f"no vehicle {vehicle_id!r} in the fleet (known: {known})") from None

    def state(self, vehicle_id: str) -> VehicleState:
        return self.session(vehicle_id).state

    def states(self) -> dict[str, VehicleState]:
        return {vid: s.state for vid, s in self._sessions.items()}

    @asynccontextmanager
    async def subscribe_states(
        self, name: str, *, maxsize: int = 64
    ) -> AsyncIterator[Subscription[VehicleState]]:
        """State changes of every vehicle; a slow reader loses the oldest, never blocks the link."""
        async with self.state_bus.subscribe(name, policy=Policy.LATEST, maxsize=maxsize) as sub:
            yield sub

    @asynccontextmanager
    async def subscribe_progress(
        self, name: str, *, maxsize: int = 256
    ) -> AsyncIterator[Subscription[SortieProgress]]:
        """Sortie progress events of every vehicle (keep newest when full)."""
        async with self.progress_bus.subscribe(name, policy=Policy.LATEST, maxsize=maxsize) as sub:
            yield sub

    # ------------------------------------------------------------ commands
    async def command(
        self, vehicle_id: str, command: Command, *, actor: str | None = None, **params: Any
    ) -> None:
        """Send one command (validated, audited, queued behind others to the same vehicle).

        Parameters by command: takeoff(rel_alt_m), goto(lat_deg, lon_deg, rel_alt_m),
        set_speed(speed_m_s), upload_plan(plan); the others take none. Pause, resume and
        abort go to the running sortie when there is one.
        """
        await check(
            self.principal, Action.COMMAND, audit=self.audit, target=f"vehicle:{vehicle_id}"
        )
        s = self.session(vehicle_id)
        sortie = self.sortie(vehicle_id)
        who = self._actor if self.principal is not None else (actor or self._actor)
        if sortie is not None and command in (Command.PAUSE, Command.RESUME, Command.ABORT):
            op = {Command.PAUSE: sortie.pause, Command.RESUME: sortie.resume}.get(
                command, sortie.abort
            )
            await op(actor=who)
            return
        methods: dict[Command, Callable[..., Awaitable[None]]] = {
            Command.ARM: s.arm,
            Command.DISARM: s.disarm,
            Command.TAKEOFF: s.takeoff,
            Command.GOTO: s.goto,
            Command.HOLD: s.hold,
            Command.CONTINUE: s.continue_mission,
            Command.SET_SPEED: s.set_speed,
            Command.RTL: s.return_to_launch,
            Command.LAND: s.land,
            Command.UPLOAD_PLAN: s.upload_plan,
            Command.START_MISSION: s.start_mission,
            Command.PAUSE: s.pause,
            Command.RESUME: s.resume,
            Command.ABORT: s.abort,
        }
        method = methods[command]
        try:
            await method(actor=who, **params)
        except TypeError as exc:
            raise VehicleError(vehicle_id, f"{command}: wrong parameters ({exc})") from None

    # ------------------------------------------------------------ sorties
    def start_sortie(
        self, vehicle_id: str, plan: PatrolPlan, *, actor: str | None = None
    ) -> Sortie:
        """Start flying `plan`; progress goes to `progress_bus`, the result to `sortie_result`."""
        if self._tg is None:
            raise FleetError("the fleet is not running; use it inside 'async with'")
        if self.principal is not None:
            try:
                authorize(self.principal, Action.FLY)
            except PermissionDenied:
                # This call is synchronous: a task of the fleet writes the refusal's
                # audit entry (`fly` checks first and writes it before returning).
                self._tg.create_task(
                    record_refusal(
                        self.principal, Action.FLY, audit=self.audit, target=f"vehicle:{vehicle_id}"
                    ),
                    name=f"refusal-{vehicle_id}",
                )
                raise
            actor = self._actor
        running = self._sortie_tasks.get(vehicle_id)
        if running is not None and not running.done():
            raise FleetError(f"vehicle {vehicle_id} is already flying a sortie")
        sortie = Sortie(
            self.session(vehicle_id),
            plan,
            recorder=self.recorder,
            audit=self.audit,
            tlog_dir=self._tlog_dir,
            actor=actor or self._actor,
            progress_bus=self.progress_bus,
        )
        self._sorties[vehicle_id] = sortie
        self._sortie_tasks[vehicle_id] = self._tg.create_task(
            sortie.run(), name=f"sortie-{vehicle_id}-{plan.name}"
        )
        return sortie

    def sortie(self, vehicle_id: str) -> Sortie | None:
        """The running sortie of a vehicle, if any."""
        task = self._sortie_tasks.get(vehicle_id)
        if task is None or task.done():
            return None
        return self._sorties.get(vehicle_id)

    async def sortie_result(self, vehicle_id: str) -> SortieResult:
        """Wait for the vehicle's latest sortie to close."""
        task = self._sortie_tasks.get(vehicle_id)
        if task is None:
            raise FleetError(f"vehicle {vehicle_id} has flown no sortie")
        return await asyncio.shield(task)

    async def fly(
        self, vehicle_id: str, plan: PatrolPlan, *, actor: str | None = None
    ) -> SortieResult:
        """Start a sortie and wait for its result."""
        await check(self.principal, Action.FLY, audit=self.audit, target=f"vehicle:{vehicle_id}")
        self.start_sortie(vehicle_id, plan, actor=actor)
        return await self.sortie_result(vehicle_id)
