"""PostgreSQL restarted mid-sortie, twice: once while an operator command waits, once
from the mission's end through landing to the sortie's close.

The controller runs as in production with a shared store: the store's audit
chain, the store as sortie recorder, `StoreWriter` on a LOSSLESS bus
subscription for samples, and the incident rules (one set to fire while the
database is down) plus an operator mark raising into the store. What must hold
afterwards:

- the vehicle ends landed and disarmed, the sortie COMPLETED;
- a command issued while the database is down is not sent until its request is
  in the audit chain (the vehicle stays held), then it is sent;
- every sample the writer accepted is in the database exactly once;
- the sortie row is closed with its outcome, and its events (the close among
  them, which waited through the second outage) are in the chain;
- the audit chain verifies and every command request has its result;
- no incident is raised twice.

The other two tests keep the database down past `StoreConfig.outage_s`: on the
ground nothing is armed, in flight nothing unrecorded is sent and the vehicle
still lands; both say what was not written in one line. The last one does so
for a scheduled run: the sortie the store cannot open is an attempt that could
not start, retried per the schedule's retry policy or finally recorded as
skipped with the reason (never a run started with sortie 0).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from drone_ops.audit import AuditEntry, AuditLog
from drone_ops.commands import Command
from drone_ops.config import ControllerConfig
from drone_ops.fleet import Fleet
from drone_ops.incidents import (
    BatteryRule,
    Incident,
    IncidentDraft,
    Incidents,
    RuleEngine,
    RuleRunner,
    Severity,
    default_rules,
)
from drone_ops.schedule import PlanSource, Preconditions, RetryPolicy, Schedule
from drone_ops.scheduling import ScheduleBook
from drone_ops.scheduling.clock import SystemClock
from drone_ops.scheduling.scheduler import RunLinkingRecorder, Scheduler
from drone_ops.sortie import SortieOutcome as RunnerOutcome
from drone_ops.state import FlightMode, VehicleState
from drone_ops.store import (
    SortieOutcome,
    Store,
    StoreConfig,
    StoreUnreachableError,
    StoreWriter,
    now_us,
    open_store,
)
from drone_ops.store.verify import verify_store
from telemetry.bus import Policy, TelemetryBus
from tests.controller.conftest import patrol
from tests.store.store_helpers import PrivatePostgres

pytestmark = pytest.mark.slow

SPEEDUP = 10.0
FLY_SPEEDUP = 25.0  # tests that only need a short flight


def down(st: VehicleState) -> bool:
    return not st.armed and not st.in_air


class WatchedBook:
    """The incident book, passed through; notes when a rule asks for a low-battery incident."""

    def __init__(self, inner: Incidents) -> None:
        self.inner = inner
        self.low_battery = asyncio.Event()

    async def raise_incident(self, draft: IncidentDraft, *, actor: str) -> Incident:
        if draft.kind == "low_battery":
            self.low_battery.set()
        return await self.inner.raise_incident(draft, actor=actor)


class WatchedAudit:
    """The store's audit log, passed through; notes when the sortie's close is written.

    The runner writes "closed: …" as its last event before closing the row; the
    test needs to know that write has started (and, afterwards, that it only
    returned once the database was back).
    """

    def __init__(self, inner: AuditLog) -> None:
        self.inner = inner
        self.closing = asyncio.Event()
        self.database_back = False
        self.close_written_after_restart: bool | None = None

    async def append(
        self, *, actor: str, action: str, target: str, payload: Mapping[str, Any]
    ) -> AuditEntry:
        closing = action == "sortie.event" and str(payload.get("event")).startswith("closed:")
        if closing:
            self.closing.set()
        entry = await self.inner.append(actor=actor, action=action, target=target, payload=payload)
        if closing:
            self.close_written_after_restart = self.database_back
        return entry


async def test_postgres_restarted_mid_sortie_loses_and_repeats_nothing(
    sim_fleet: Any, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    config = StoreConfig(url=private_pg.url, connect_timeout_s=2, outage_s=120)
    async with (
        open_store(config) as store,
        sim_fleet(count=1, speedup=SPEEDUP) as sim,
        TelemetryBus() as bus,
        bus.subscribe("store", policy=Policy.LOSSLESS, spool_dir=tmp_path / "s") as store_sub,
        bus.subscribe("rules", policy=Policy.LOSSLESS, spool_dir=tmp_path / "r") as rules_sub,
    ):
        writer = StoreWriter(store, max_batch_samples=500, retry_max_s=0.5)
        audit = WatchedAudit(store.audit)
        book = Incidents(store)
        async with asyncio.TaskGroup() as tg:
            drain = tg.create_task(writer.run_subscription(store_sub), name="store-writer")
            try:
                async with Fleet(
                    audit=audit,
                    config=ControllerConfig().scaled(SPEEDUP),
                    recorder=store,
                    sample_bus=bus,
                    tlog_dir=tmp_path / "tlog",
                ) as fleet:
                    s = await fleet.add_vehicle("v1", f"udpin://127.0.0.1:{sim.api_port(0)}")
                    await s.wait_for(
                        lambda st: st.home is not None and st.health_ok is not None,
                        timeout_s=10,
                    )
                    # long legs after the hold: the second stop is done well before landing
                    plan = patrol(s, north_m=40, east_m=120)
                    sortie = fleet.start_sortie("v1", plan)
                    await s.wait_for(
                        lambda st: st.in_air and (st.mission_seq or 0) >= 1, timeout_s=30
                    )
                    await fleet.command("v1", Command.PAUSE)
                    await s.wait_for(lambda st: st.mode is FlightMode.AUTO_LOITER, timeout_s=10)

                    # 1. Down while held: a resume, an operator mark and a rule's incident
                    # (battery below what it is now: it drains while holding) wait for it.
                    await asyncio.to_thread(private_pg.stop)
                    battery = s.state.battery_pct
                    assert battery is not None
                    assert battery > 2
                    drain_rule = BatteryRule(low_pct=battery - 0.5, critical_pct=1.0)
                    watched = WatchedBook(book)
                    rules = RuleRunner(
                        RuleEngine([drain_rule, *default_rules(plan.fence)]), watched
                    )
                    tg.create_task(rules.run_subscription(rules_sub), name="rules")
                    resume = tg.create_task(fleet.command("v1", Command.RESUME), name="resume")
                    mark = tg.create_task(
                        book.raise_incident(
                            IncidentDraft(
                                kind="mark",
                                severity=Severity.INFO,
                                time_unix_us=now_us(),
                                summary="operator mark while the database restarts",
                                vehicle_id="v1",
                                sortie_id=sortie.sortie_id,
                            ),
                            actor="officer:1",
                        ),
                        name="mark",
                    )
                    await store.outage.waiting.wait()
                    await writer.stalled.wait()  # samples accepted meanwhile are held
                    async with asyncio.timeout(60):
                        await watched.low_battery.wait()
                    assert not resume.done()
                    assert not mark.done()
                    # not sent unrecorded: the vehicle is still held
                    assert s.state.mode is FlightMode.AUTO_LOITER
                    await asyncio.to_thread(private_pg.start)
                    await resume
                    await s.wait_for(lambda st: st.mode is not FlightMode.AUTO_LOITER, timeout_s=10)

                    # 2. Down from here to after landing: the close waits for the store.
                    await asyncio.to_thread(private_pg.stop)
                    await s.wait_for(down, timeout_s=60)
                    async with asyncio.timeout(30):
                        await audit.closing.wait()
                        await store.outage.waiting.wait()
                    assert not store.outage.stats.given_up
                    audit.database_back = True
                    await asyncio.to_thread(private_pg.start)
                    result = await fleet.sortie_result("v1")
            finally:
                bus.close()  # the writer and the rules drain what is left, then end
        stats = drain.result()
        marked = mark.result()
        assert audit.close_written_after_restart, "the close was written before the second stop"
        await check_store(store, result, stats, bus.published, rules.raised, marked.incident_id)


async def check_store(
    store: Store, result: Any, stats: Any, published: int, raised: list[Any], mark_id: int
) -> None:
    # the vehicle is down and the sortie completed, recorded
    assert result.outcome is RunnerOutcome.COMPLETED, result.reason
    assert result.landed_and_disarmed
    assert result.recorded, result.reason
    assert {"paused", "resumed"} <= set(result.events)

    # every accepted sample exactly once; the outage really held some back
    assert stats.retries > 0
    assert stats.pending_samples == 0
    assert await store.count_samples("v1") == stats.samples_written == published
    samples = await store.samples_between("v1", 0, 2**62)
    assert len({x.time_unix_us for x in samples}) == len(samples), "a sample was written twice"

    # the sortie row is closed with its outcome; its events are in the chain once each
    record = await store.sortie(result.sortie_id)
    assert record.outcome is SortieOutcome.COMPLETED
    assert record.ended_us is not None
    sortie_entries = await store.audit.entries(target=f"sortie:{result.sortie_id}")
    actions = [e.action for e in sortie_entries]
    assert actions[0] == "sortie.open"
    assert actions[-1] == "sortie.close"
    events = [e.payload["event"] for e in sortie_entries if e.action == "sortie.event"]
    assert events == list(result.events)
    assert events[-1].startswith("closed: completed")

    # the chain verifies; every command request has its result, in order
    report = await verify_store(store)
    assert report.ok, report.summary()
    commands = [e.action for e in await store.audit.entries(limit=100_000)]
    commands = [a for a in commands if a.startswith("command.")]
    requests = Counter(a.removesuffix(".request") for a in commands if a.endswith(".request"))
    results = Counter(a.removesuffix(".result") for a in commands if a.endswith(".result"))
    assert requests == results, commands
    assert commands.index("command.resume.request") < commands.index("command.resume.result")

    # no incident twice: the mark once, and each rule incident exactly as raised
    incidents = await Incidents(store).query(vehicle_id="v1")
    assert [i.incident_id for i in incidents if i.kind == "mark"] == [mark_id]
    assert len([i for i in incidents if i.kind == "low_battery"]) == 1
    assert sorted(i.incident_id for i in incidents if i.kind != "mark") == sorted(
        i.incident_id for i in raised
    )
    episodes = Counter((i.kind, i.time_unix_us) for i in incidents)
    assert all(n == 1 for n in episodes.values()), episodes


async def test_database_down_past_the_bound_refuses_before_arming_then_recovers(
    sim_fleet: Any, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    """Past `outage_s` nothing is sent unrecorded: a command and a sortie fail in one
    line and the vehicle stays disarmed; the fleet survives and flies once the
    database is back."""
    config = StoreConfig(url=private_pg.url, connect_timeout_s=1, outage_s=1.0)
    async with (
        open_store(config) as store,
        sim_fleet(count=1, speedup=SPEEDUP) as sim,
        Fleet(
            audit=store.audit, config=ControllerConfig().scaled(SPEEDUP), recorder=store
        ) as fleet,
    ):
        s = await fleet.add_vehicle("v1", f"udpin://127.0.0.1:{sim.api_port(0)}")
        await s.wait_for(lambda st: st.home is not None and st.health_ok is not None, timeout_s=10)
        plan = patrol(s)
        await asyncio.to_thread(private_pg.stop)
        with pytest.raises(StoreUnreachableError) as failed:
            await fleet.command("v1", Command.ARM)
        assert "\n" not in str(failed.value)
        assert "was not written" in str(failed.value)
        refused = await fleet.fly("v1", plan)
        assert refused.outcome is RunnerOutcome.REFUSED
        assert not refused.recorded
        assert refused.reason.startswith("not flown: sortie of v1")
        assert "\n" not in refused.reason
        assert not s.state.armed
        assert store.outage.stats.given_up >= 2

        await asyncio.to_thread(private_pg.start)
        result = await fleet.fly("v1", plan)
        assert result.outcome is RunnerOutcome.COMPLETED, result.reason
        assert result.landed_and_disarmed
        assert result.recorded
        actions = [e.action for e in await store.audit.entries(limit=100_000)]
        # the refused arm never reached the chain; the flown sortie's did, with results
        assert actions.count("command.arm.request") == actions.count("command.arm.result") == 1
        assert [r.sortie_id for r in await store.sorties()] == [result.sortie_id]
        report = await verify_store(store)
        assert report.ok, report.summary()


async def test_database_gone_in_flight_the_vehicle_still_lands_and_says_not_recorded(
    sim_fleet: Any, private_pg: PrivatePostgres
) -> None:
    """The database goes away for good mid-flight (past `outage_s`): an operator's
    pause fails in one line and is not sent; the vehicle flies its plan home and
    lands; the result says the sortie was not recorded, in one line."""
    config = StoreConfig(url=private_pg.url, connect_timeout_s=1, outage_s=1.0)
    async with (
        open_store(config) as store,
        sim_fleet(count=1, speedup=SPEEDUP) as sim,
        Fleet(
            audit=store.audit, config=ControllerConfig().scaled(SPEEDUP), recorder=store
        ) as fleet,
    ):
        s = await fleet.add_vehicle("v1", f"udpin://127.0.0.1:{sim.api_port(0)}")
        await s.wait_for(lambda st: st.home is not None and st.health_ok is not None, timeout_s=10)
        fleet.start_sortie("v1", patrol(s))
        await s.wait_for(lambda st: st.in_air and (st.mission_seq or 0) >= 1, timeout_s=30)
        await asyncio.to_thread(private_pg.stop)
        with pytest.raises(StoreUnreachableError) as failed:
            await fleet.command("v1", Command.PAUSE)
        assert "\n" not in str(failed.value)
        assert s.state.mode is not FlightMode.AUTO_LOITER  # the pause was not sent
        result = await fleet.sortie_result("v1")
        assert result.outcome is RunnerOutcome.COMPLETED, result.reason
        assert result.landed_and_disarmed
        assert not result.recorded
        assert "not recorded: " in result.reason
        assert "\n" not in result.reason
        assert result.events[-1].startswith("closed: completed")

        await asyncio.to_thread(private_pg.start)
        actions = [e.action for e in await store.audit.entries(limit=100_000)]
        assert "command.pause.request" not in actions
        report = await verify_store(store)
        assert report.ok, report.summary()


class StoreGoneAtFirstOpen:
    """The scheduler's recorder, passed through; the first sortie it is asked to open
    finds the database stopped (past the bound), which is started again afterwards."""

    def __init__(self, inner: RunLinkingRecorder, server: PrivatePostgres) -> None:
        self.inner = inner
        self.server = server
        self.failed: list[str] = []
        self.asked = asyncio.Event()  # a run got as far as opening its sortie

    async def open_sortie(self, **kwargs: Any) -> int:
        self.asked.set()
        if self.failed:
            return await self.inner.open_sortie(**kwargs)
        await asyncio.to_thread(self.server.stop)
        try:
            return await self.inner.open_sortie(**kwargs)
        except StoreUnreachableError as exc:
            self.failed.append(str(exc))
            raise
        finally:
            await asyncio.to_thread(self.server.start)

    async def close_sortie(self, sortie_id: int, **kwargs: Any) -> Any:
        return await self.inner.close_sortie(sortie_id, **kwargs)


@pytest.mark.parametrize("attempts", [1, 2])
async def test_a_scheduled_sortie_the_store_cannot_open_is_retried_or_skipped_with_why(
    sim_fleet: Any, private_pg: PrivatePostgres, attempts: int
) -> None:
    config = StoreConfig(url=private_pg.url, connect_timeout_s=1, outage_s=0.5)
    clock = SystemClock()
    async with (
        open_store(config) as store,
        sim_fleet(count=1, speedup=FLY_SPEEDUP) as sim,
    ):
        book = ScheduleBook(store, actor="test")
        inner = RunLinkingRecorder(store, book, holder="ctl-a")
        recorder = StoreGoneAtFirstOpen(inner, private_pg)
        async with Fleet(
            audit=store.audit, config=ControllerConfig().scaled(FLY_SPEEDUP), recorder=recorder
        ) as fleet:
            s = await fleet.add_vehicle("v1", f"udpin://127.0.0.1:{sim.api_port(0)}")
            await s.wait_for(lambda st: st.home is not None and st.health_ok is True, timeout_s=30)
            now = clock.now()
            await book.add(
                Schedule(
                    name="once",
                    plan=PlanSource(generator="square", params={"side_m": 20, "alt_m": 8}),
                    interval_s=3600,
                    anchor_utc=now + timedelta(seconds=0.5),
                    preconditions=Preconditions(min_battery_pct=30, require_docked=False),
                    retry=RetryPolicy(max_attempts=attempts, delay_s=0.5),
                ),
                now=now,
            )
            async with Scheduler(
                book=book, fleet=fleet, store=store, clock=clock, holder="ctl-a",
                recorder=inner, poll_s=0.2,
            ) as scheduler:  # fmt: skip
                async with asyncio.timeout(60):
                    await recorder.asked.wait()  # claimed, vehicle chosen, being flown
                    await scheduler.wait_idle()
            runs = await book.runs("once")
            rows = await store.sorties()
            entries = await store.audit.entries(limit=100_000)
            report = await verify_store(store)

    (failure,) = recorder.failed
    assert "sortie of v1" in failure
    assert "was not written" in failure
    assert report.ok, report.summary()
    assert not [e for e in entries if e.payload.get("sortie_id") == 0]  # no run of sortie 0
    (run,) = runs
    if attempts == 1:  # nothing flown, nothing opened: skipped, and why
        assert rows == []
        assert (run.status, run.sortie_id) == ("skipped", None)
        assert run.detail is not None
        assert run.detail.startswith("not flown after 1 attempt(s): v1: not flown: sortie of v1")
        assert "\n" not in run.detail
        assert not [e for e in entries if e.action.startswith("command.")]
        assert not s.state.armed
    else:  # the second attempt finds the store back and flies
        (row,) = rows
        assert (run.status, run.sortie_id) == ("completed", row.sortie_id)
        retries = [e for e in entries if e.action == "schedule.run.retry"]
        assert len(retries) == 1
        assert retries[0].payload["detail"].startswith("attempt 1 could not start: v1: not flown")
        assert row.outcome is SortieOutcome.COMPLETED
