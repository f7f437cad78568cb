"""The scheduler: claims due runs, picks a vehicle, flies a recorded sortie or records a skip.

    async with Scheduler(book=book, fleet=fleet, store=store, clock=clock,
                         holder="ctl-a", leases=keeper) as scheduler:
        ...   # runs happen in the scheduler's TaskGroup until the block is left

Each claimed run becomes a named task: choose the fullest ready vehicle of
the schedule (see `readiness`), take its lease (when controllers share a
store), fly the plan through `Fleet` and record the outcome on the run. When
no vehicle is ready the run is retried per the schedule's retry policy, and
finally recorded as skipped with the reason for every candidate. A sortie
the store could not open (down past `outage_s`) was never flown: nothing was
sent to the vehicle, so it is an attempt that could not start, retried the
same way and finally recorded as skipped with the store's one-line reason
(never a run `flying` sortie 0).

Take-over: when controllers share a store, a vehicle whose sortie was opened
by another controller (still open in the store) and whose lease has expired
is leased by us, followed until it is down and disarmed, and its sortie and
schedule run closed with the outcome: the dead controller's sortie reaches a
recorded end.

Restart: a controller killed mid-sortie and started again under the same
name finds, before its first claim, the sorties still open under that name
(and the runs it had claimed but never started). Each such vehicle is held
back from new runs until it is connected, then leased again (a new fencing
token) and followed like a take-over; the unstarted runs are recorded as
skipped. See `drone_ops.scheduling.adoption`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, Self

from drone_ops.errors import DroneOpsError
from drone_ops.fleet import Fleet
from drone_ops.lease import LeaseKeeper
from drone_ops.preflight import battery_need_pct
from drone_ops.scheduling.adoption import (
    OpenSortie,
    follow_to_the_ground,
    note_adoption,
    open_sorties,
)
from drone_ops.scheduling.book import ClaimedRun, ScheduleBook
from drone_ops.scheduling.clock import Clock
from drone_ops.scheduling.plans import load_plan
from drone_ops.scheduling.readiness import select_vehicle
from drone_ops.sortie import SortieOutcome, SortieResult
from drone_ops.state import VehicleState
from drone_ops.store import Store, StoreError
from missions.errors import MissionsError
from missions.plan import Home

__all__ = [
    "RunLinkingRecorder",
    "Scheduler",
    "SchedulerStats",
    "SortieChange",
    "SortieListener",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SortieChange:
    """A sortie was opened or closed: for whoever announces it (the service's MQTT events)."""

    kind: Literal["opened", "closed"]
    sortie_id: int
    vehicle_id: str
    plan_name: str | None = None
    outcome: str | None = None


SortieListener = Callable[[SortieChange], Awaitable[None]]


class RunLinkingRecorder:
    """The store as the fleet's `SortieRecorder`, stamping our controller id on each
    sortie and linking it to the schedule run it flies the moment it opens.

    `on_change` (optional) hears of every sortie opened or closed through it,
    after the store has recorded it."""

    def __init__(
        self,
        store: Store,
        book: ScheduleBook,
        *,
        holder: str,
        on_change: SortieListener | None = None,
    ) -> None:
        self.store = store
        self.book = book
        self.holder = holder
        self.on_change = on_change
        self._pending: dict[str, int] = {}  # vehicle id -> run id about to fly
        self._unlinked: dict[int, int] = {}  # run id -> sortie id its start could not record

    def expect(self, vehicle_id: str, run_id: int) -> None:
        self._pending[vehicle_id] = run_id

    def forget(self, vehicle_id: str) -> None:
        self._pending.pop(vehicle_id, None)

    def take_unlinked(self, run_id: int) -> int | None:
        """The sortie of `run_id` if recording the run's start failed (link it later)."""
        return self._unlinked.pop(run_id, None)

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
        sortie_id = await self.store.open_sortie(
            vehicle_id=vehicle_id,
            plan_name=plan_name,
            plan_json=plan_json,
            actor=actor,
            started_us=started_us,
            tlog_path=tlog_path,
            controller=controller or self.holder,
        )
        run_id = self._pending.pop(vehicle_id, None)
        if run_id is not None:
            try:
                await self.book.run_started(run_id, sortie_id=sortie_id, holder=self.holder)
            except DroneOpsError as exc:
                # The sortie is recorded: failing here would have the runner treat it as
                # never opened and leave its row open. The scheduler links it at the end.
                log.warning("run %s: start not recorded yet: %s", run_id, exc)
                self._unlinked[run_id] = sortie_id
        if self.on_change is not None:
            await self.on_change(
                SortieChange(
                    kind="opened", sortie_id=sortie_id, vehicle_id=vehicle_id, plan_name=plan_name
                )
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
    ) -> Any:
        record = await self.store.close_sortie(
            sortie_id, outcome=outcome, actor=actor, ended_us=ended_us, tlog_path=tlog_path
        )
        if self.on_change is not None:
            await self.on_change(
                SortieChange(
                    kind="closed",
                    sortie_id=sortie_id,
                    vehicle_id=record.vehicle_id,
                    plan_name=record.plan_name,
                    outcome=None if record.outcome is None else record.outcome.value,
                )
            )
        return record


@dataclass(slots=True)
class SchedulerStats:
    """Counters for metrics and tests."""

    claimed: int = 0
    flown: int = 0
    skipped: int = 0
    retries: int = 0
    adopted: int = 0  # sorties taken over from another controller
    resumed: int = 0  # sorties a previous process of this controller left open
    outcomes: Counter[str] = field(default_factory=Counter)


class Scheduler:
    """Runs schedules from the store on a fleet. See the module docstring."""

    def __init__(
        self,
        *,
        book: ScheduleBook,
        fleet: Fleet,
        store: Store,
        clock: Clock,
        holder: str,
        recorder: RunLinkingRecorder | None = None,
        leases: LeaseKeeper | None = None,
        poll_s: float = 60.0,
        reserve_pct: float = 20.0,
    ) -> None:
        self.book = book
        self.fleet = fleet
        self.store = store
        self.clock = clock
        self.holder = holder
        self.recorder = recorder
        self.leases = leases
        self.poll_s = poll_s  # clock seconds between looks at the store at most
        self.reserve_pct = reserve_pct
        self.stats = SchedulerStats()
        self._reserved: set[str] = set()  # vehicles chosen for a run (or adopted)
        self._last_flown_s: dict[str, float] = {}  # clock time each vehicle last took a run
        # vehicles fully connected (MAVSDK bound); None: every vehicle in the fleet
        self.connected: set[str] | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Condition()
        self._active_runs = 0
        # vehicle -> sortie a previous process of this controller left open; None: not read yet
        self._leftovers: dict[str, OpenSortie] | None = None

    async def __aenter__(self) -> Self:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._spawn(self._loop(), name=f"scheduler:{self.holder}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tg is not None
        for task in list(self._tasks):  # leaving stops the loop and any run still waiting
            task.cancel()
        await self._tg.__aexit__(et, e, tb)

    def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        assert self._tg is not None
        task = self._tg.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ loop
    def wake(self) -> None:
        """Look at the store now (after a schedule was added or changed)."""
        self._wake.set()

    def busy(self) -> set[str]:
        flying = {v for v in self.fleet.vehicles() if self.fleet.sortie(v) is not None}
        return flying | self._reserved

    async def _loop(self) -> None:
        failing = False
        while True:
            try:
                await self.tick()
                if failing:
                    log.warning("scheduler: the store answers again")
                failing = False
            except DroneOpsError as exc:  # store unreachable: say so, try again next time
                # once per outage at warning level: polling would repeat it every poll_s
                log.log(logging.DEBUG if failing else logging.WARNING, "scheduler: %s", exc)
                failing = True
            nxt = await self._next_wake()
            self._wake.clear()
            # a wall-clock wait for the clock's remaining time; if the clock runs slow
            # (a loaded simulator) the next tick finds nothing due and waits again
            wall_s = self.clock.wall_s((nxt - self.clock.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wall_s, 0.0) + 1e-3):
                    await self._wake.wait()

    async def _next_wake(self) -> Any:
        now = self.clock.now()
        limit = now + timedelta(seconds=self.poll_s)
        try:
            nxt = await self.book.next_due()
        except DroneOpsError:
            return limit
        return limit if nxt is None else max(now, min(nxt, limit))

    async def tick(self) -> list[ClaimedRun]:
        """Claim what is due now and start each run; adopt orphaned sorties."""
        if self._leftovers is None:
            await self._find_leftovers()  # before the first claim: nothing of ours flies yet
        claimed = await self.book.claim_due(holder=self.holder, now=self.clock.now())
        for run in claimed:
            self.stats.claimed += 1
            self._active_runs += 1
            self._spawn(
                self._execute(run), name=f"run:{run.schedule.name}@{run.due_utc:%Y%m%dT%H%M}"
            )
        await self._resume_leftovers()
        if self.leases is not None:
            await self._adopt_orphans()
        return claimed

    @property
    def active_runs(self) -> int:
        """Claimed runs not finished yet (waiting for a vehicle, or flying)."""
        return self._active_runs

    async def wait_idle(self) -> None:
        """Wait until no claimed run is still in progress."""
        async with self._idle:
            await self._idle.wait_for(lambda: self._active_runs == 0)

    # ------------------------------------------------------------ one run
    async def _execute(self, run: ClaimedRun) -> None:
        try:
            await self._execute_inner(run)
        except DroneOpsError as exc:
            log.warning("run %s of %s failed: %s", run.run_id, run.schedule.name, exc)
            with contextlib.suppress(DroneOpsError):
                await self.book.run_finished(run.run_id, outcome="error", now=self.clock.now())
        finally:
            async with self._idle:
                self._active_runs -= 1
                self._idle.notify_all()

    async def _execute_inner(self, run: ClaimedRun) -> None:
        schedule = run.schedule
        policy = schedule.retry
        reason = ""
        failed = "found no vehicle"
        for attempt in range(1, policy.max_attempts + 1):
            vehicle_id, reason = await self._choose(run)
            failed = "found no vehicle"
            if vehicle_id is not None:
                reason = await self._fly(run, vehicle_id)
                if not reason:
                    return
                failed = "could not start"
            if attempt < policy.max_attempts:
                self.stats.retries += 1
                await self.book.note_attempt(
                    run.run_id, detail=f"attempt {attempt} {failed}: {reason}"
                )
                await self.clock.sleep_until(self.clock.now() + timedelta(seconds=policy.delay_s))
        self.stats.skipped += 1
        summary = "no vehicle ready" if failed == "found no vehicle" else "not flown"
        await self.book.run_skipped(
            run.run_id,
            reason=f"{summary} after {policy.max_attempts} attempt(s): {reason}",
            now=self.clock.now(),
        )

    async def _choose(self, run: ClaimedRun) -> tuple[str | None, str]:
        """Reserve a ready vehicle (and its lease); else the reason none could fly."""
        states = self.fleet.states()
        if self.connected is not None:
            states = {v: s for v, s in states.items() if v in self.connected}
        need = self._need_pct(run, states)
        excluded: dict[str, str] = {}
        while True:
            busy = self.busy() | set(excluded)
            selection = select_vehicle(
                run.schedule,
                states,
                busy=busy,
                need_pct=need,
                reserve_pct=self.reserve_pct,
                last_flown_s=self._last_flown_s,
            )
            if selection.vehicle_id is None:
                reasons = {**selection.reasons, **excluded}
                text = "; ".join(f"{v}: {why}" for v, why in sorted(reasons.items()))
                return None, text or "no vehicles known to the controller"
            vid = selection.vehicle_id
            self._reserved.add(vid)  # before any await: no other run may pick it
            try:
                leased = self.leases is None or await self.leases.acquire(vid) is not None
            except StoreError as exc:  # down past the bound: this attempt cannot start
                self._reserved.discard(vid)
                return None, f"{vid}: {exc}"
            if leased:
                self._last_flown_s[vid] = self.clock.now().timestamp()
                return vid, ""
            self._reserved.discard(vid)
            excluded[vid] = "leased to another controller"

    def _need_pct(self, run: ClaimedRun, states: Mapping[str, VehicleState]) -> float:
        """Battery the plan takes from a typical candidate's home (0 if it cannot be built)."""
        for state in states.values():
            if state.home is not None and run.schedule.accepts_vehicle(state.vehicle_id):
                try:
                    plan = load_plan(run.schedule.plan, home=_home(state), name=run.schedule.name)
                except (DroneOpsError, MissionsError):
                    return 0.0
                return battery_need_pct(plan)
        return 0.0

    async def _fly(self, run: ClaimedRun, vehicle_id: str) -> str:
        """Fly the run on the vehicle and record it; "" once done, else why the sortie
        could not even be opened (the store: nothing was sent, the run may retry)."""
        try:
            state = self.fleet.state(vehicle_id)
            try:
                plan = load_plan(run.schedule.plan, home=_home(state), name=run.schedule.name)
            except (DroneOpsError, MissionsError) as exc:
                self.stats.skipped += 1
                await self.book.run_skipped(
                    run.run_id, reason=f"plan cannot be built: {exc}", now=self.clock.now()
                )
                return ""
            if self.recorder is not None:
                self.recorder.expect(vehicle_id, run.run_id)
            result: SortieResult = await self.fleet.fly(
                vehicle_id, plan, actor=f"schedule:{run.schedule.name}"
            )
            if result.sortie_id == 0:  # the store could not open it: nothing was flown
                log.warning("run %s: %s: %s", run.run_id, vehicle_id, result.reason)
                return f"{vehicle_id}: {result.reason}"
            self.stats.flown += 1
            unlinked = None if self.recorder is None else self.recorder.take_unlinked(run.run_id)
            if self.recorder is None or unlinked is not None:
                await self.book.run_started(
                    run.run_id, sortie_id=result.sortie_id, holder=self.holder
                )
            self.stats.outcomes[result.outcome.value] += 1
            await self.book.run_finished(
                run.run_id, outcome=result.outcome.value, now=self.clock.now(), detail=result.reason
            )
            return ""
        finally:
            if self.recorder is not None:
                self.recorder.forget(vehicle_id)
            self._reserved.discard(vehicle_id)
            if self.leases is not None:
                await self.leases.release(vehicle_id)

    # ------------------------------------------------------------ take-over and restart
    async def _find_leftovers(self) -> None:
        """What a previous process of this controller left behind: its open sorties
        (their vehicles are held back from new runs until followed down) and the runs
        it claimed but never started (recorded as skipped)."""
        rows = await self.store.run(lambda: open_sorties(self.store, mine=self.holder))
        leftovers: dict[str, OpenSortie] = {}
        for row in rows:  # oldest first: a vehicle's newest open sortie is the one it flies
            older = leftovers.get(row.vehicle_id)
            if older is not None:
                await self._close(
                    older,
                    SortieOutcome.ABORTED,
                    "left open by an earlier process; a newer sortie of the vehicle followed",
                )
            leftovers[row.vehicle_id] = row
        self._reserved.update(leftovers)
        dropped = await self.book.abandon_unstarted_runs(
            holder=self.holder,
            now=self.clock.now(),
            detail="controller restarted before this run took off",
        )
        self._leftovers = leftovers  # only now: a store error above means "read again"
        for row in leftovers.values():
            log.warning(
                "sortie %s of %s was left open by a previous run of %s: resuming it",
                row.sortie_id,
                row.vehicle_id,
                self.holder,
                extra={"vehicle": row.vehicle_id, "sortie": row.sortie_id},
            )
        if dropped:
            log.warning("%d claimed run(s) never started before the restart: skipped", dropped)

    async def _resume_leftovers(self) -> None:
        """Follow each leftover sortie once its vehicle is connected (and leased again)."""
        assert self._leftovers is not None
        for vehicle_id, row in list(self._leftovers.items()):
            if vehicle_id not in self.fleet.vehicles():
                continue  # not added yet (or no longer configured: then it stays open)
            if self.connected is not None and vehicle_id not in self.connected:
                continue
            token: int | None = None
            if self.leases is not None:
                lease = await self.leases.acquire(vehicle_id)
                if lease is None:  # a peer took it over while we were down: theirs to close
                    del self._leftovers[vehicle_id]
                    self._reserved.discard(vehicle_id)
                    continue
                token = lease.token
            del self._leftovers[vehicle_id]
            self.stats.resumed += 1
            self._spawn(
                self._follow_adopted(
                    row,
                    action="sortie.resume_after_restart",
                    reason=f"controller {self.holder} restarted",
                    lease_token=token,
                ),
                name=f"resume:{vehicle_id}:{row.sortie_id}",
            )

    async def _adopt_orphans(self) -> None:
        """Lease and follow vehicles whose sortie another controller left open."""
        mine = set(self.fleet.vehicles()) - self.busy()
        if not mine:
            return
        rows = await self.store.run(lambda: open_sorties(self.store, not_mine=self.holder))
        for row in rows:
            vehicle_id = row.vehicle_id
            if vehicle_id not in mine:
                continue
            assert self.leases is not None
            self._reserved.add(vehicle_id)
            try:
                lease = await self.leases.acquire(vehicle_id)
            except DroneOpsError:  # store gone past the bound: free it, the next tick retries
                self._reserved.discard(vehicle_id)
                raise
            if lease is None:
                self._reserved.discard(vehicle_id)
                continue  # its controller is alive and renewing
            mine.discard(vehicle_id)
            self.stats.adopted += 1
            self._spawn(
                self._follow_adopted(
                    row,
                    action="sortie.take_over",
                    reason="previous controller's lease expired",
                    lease_token=lease.token,
                ),
                name=f"adopt:{vehicle_id}:{row.sortie_id}",
            )

    async def _follow_adopted(
        self, row: OpenSortie, *, action: str, reason: str, lease_token: int | None
    ) -> None:
        vehicle_id = row.vehicle_id
        again = False
        try:
            session = self.fleet.session(vehicle_id)
            await self.store.run(
                lambda: note_adoption(
                    self.store,
                    sortie_id=row.sortie_id,
                    vehicle_id=vehicle_id,
                    holder=self.holder,
                    action=action,
                    reason=reason,
                    lease_token=lease_token,
                )
            )
            followed = await follow_to_the_ground(session, row, actor=self.holder)
            await self._close(row, followed.outcome, f"{reason}; {followed.detail}")
        except DroneOpsError as exc:  # store unreachable: the sortie is ours now, try again
            log.warning(
                "sortie %s of %s not closed yet: %s; trying again",
                row.sortie_id,
                vehicle_id,
                exc,
                extra={"vehicle": vehicle_id, "sortie": row.sortie_id},
            )
            again = self._leftovers is not None
        finally:
            if again:
                assert self._leftovers is not None
                self._leftovers[vehicle_id] = row  # stays reserved; the next tick resumes it
            else:
                self._reserved.discard(vehicle_id)
            if self.leases is not None:
                await self.leases.release(vehicle_id)

    async def _close(self, row: OpenSortie, outcome: SortieOutcome, detail: str) -> None:
        """Close an adopted sortie and the schedule run that was flying it."""
        if self.recorder is not None:
            await self.recorder.close_sortie(row.sortie_id, outcome=outcome, actor=self.holder)
        else:
            await self.store.close_sortie(row.sortie_id, outcome=outcome, actor=self.holder)
        await self.book.finish_runs_of_sortie(
            row.sortie_id, outcome=outcome.value, now=self.clock.now(), detail=detail
        )
        self.stats.outcomes[outcome.value] += 1


def _home(state: VehicleState) -> Home:
    if state.home is None:
        raise DroneOpsError(f"{state.vehicle_id}: home position not known yet")
    return Home(lat_deg=state.home.lat_deg, lon_deg=state.home.lon_deg, amsl_m=state.home.amsl_m)
