"""Schedules in a real store (SQLite and PostgreSQL): CRUD, missed runs, claim-once."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from drone_ops.schedule import MissedRunPolicy, PlanSource, Schedule, ScheduleError
from drone_ops.scheduling import RunStatus, ScheduleBook
from drone_ops.store import Store
from drone_ops.store.engine import write_tx

T0 = datetime(2026, 6, 1, 9, 50, tzinfo=UTC)
PLAN = PlanSource(file="depot.plan")


def half_hourly(name: str = "depot", **kw: object) -> Schedule:
    return Schedule(name=name, plan=PLAN, interval_s=1800, **kw)  # type: ignore[arg-type]


async def test_add_list_show_pause_resume_remove(store: Store) -> None:
    book = ScheduleBook(store, actor="op:alice")
    added = await book.add(half_hourly(), now=T0)
    assert added.next_due_utc == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ScheduleError, match="already exists"):
        await book.add(half_hourly(), now=T0)
    assert [s.schedule.name for s in await book.schedules()] == ["depot"]
    assert (await book.get("depot")).schedule == half_hourly()

    paused = await book.set_enabled("depot", False, now=T0)
    assert paused.next_due_utc is None
    assert await book.claim_due(holder="ctl", now=T0 + timedelta(hours=2)) == []
    resumed = await book.set_enabled("depot", True, now=T0 + timedelta(hours=2))
    assert resumed.next_due_utc == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert await book.runs("depot") == []  # paused time is not "missed"

    await book.remove("depot")
    assert await book.schedules() == []
    with pytest.raises(ScheduleError, match="no schedule named 'depot'"):
        await book.get("depot")
    await book.add(half_hourly(), now=T0)  # the name is free again
    actions = [e.action for e in await store.audit.entries()]
    assert actions[:4] == ["schedule.add", "schedule.pause", "schedule.resume", "schedule.remove"]


async def test_claim_is_once_and_advances_the_schedule(store: Store) -> None:
    book = ScheduleBook(store)
    await book.add(half_hourly(), now=T0)
    assert await book.claim_due(holder="ctl-a", now=T0 + timedelta(minutes=5)) == []
    at = datetime(2026, 6, 1, 10, 0, 10, tzinfo=UTC)
    claimed = await book.claim_due(holder="ctl-a", now=at)
    assert [c.due_utc for c in claimed] == [datetime(2026, 6, 1, 10, 0, tzinfo=UTC)]
    assert await book.claim_due(holder="ctl-b", now=at) == []
    assert (await book.get("depot")).next_due_utc == datetime(2026, 6, 1, 10, 30, tzinfo=UTC)
    await book.run_started(claimed[0].run_id, sortie_id=7, holder="ctl-a")
    await book.run_finished(claimed[0].run_id, outcome="completed", now=at)
    [run] = await book.runs("depot")
    assert run.status == "completed"
    assert run.sortie_id == 7


@pytest.mark.parametrize(
    ("policy", "expect_run"), [(MissedRunPolicy.SKIP, False), (MissedRunPolicy.RUN_ONCE_LATE, True)]
)
async def test_missed_runs_are_recorded_as_skips_with_the_reason(
    store: Store, policy: MissedRunPolicy, expect_run: bool
) -> None:
    book = ScheduleBook(store)
    await book.add(half_hourly(missed=policy), now=T0)
    late = datetime(2026, 6, 1, 11, 45, tzinfo=UTC)  # 10:00, 10:30, 11:00, 11:30 passed
    claimed = await book.claim_due(holder="ctl", now=late)
    runs = await book.runs("depot")
    skipped = [r for r in runs if r.status == RunStatus.SKIPPED]
    assert all(r.detail and "no controller was running" in r.detail for r in skipped)
    if expect_run:
        assert [c.due_utc.hour for c in claimed] == [11]
        assert claimed[0].late
        assert len(skipped) == 3
    else:
        assert claimed == []
        assert len(skipped) == 4
    assert (await book.get("depot")).next_due_utc == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_skip_locked_two_postgresql_sessions_never_claim_the_same_run(pg_store: Store) -> None:
    book = ScheduleBook(pg_store)
    asyncio.run(book.add(half_hourly(), now=T0))  # sync test: the sessions are driven by hand
    at = datetime(2026, 6, 1, 10, 0, 5, tzinfo=UTC)
    a_holds_lock = threading.Event()
    b_done = threading.Event()
    results: dict[str, int] = {}

    def controller_a() -> None:
        with write_tx(pg_store.engine) as conn:
            results["a"] = len(book.claim_due_in_tx(conn, holder="ctl-a", now=at))
            a_holds_lock.set()
            assert b_done.wait(10)  # keep the row locked while B tries

    def controller_b() -> None:
        assert a_holds_lock.wait(10)
        with write_tx(pg_store.engine) as conn:  # must not block on A's lock: SKIP LOCKED
            results["b_during"] = len(book.claim_due_in_tx(conn, holder="ctl-b", now=at))
        b_done.set()

    ta, tb = threading.Thread(target=controller_a), threading.Thread(target=controller_b)
    ta.start()
    tb.start()
    ta.join(20)
    tb.join(20)
    with write_tx(pg_store.engine) as conn:
        results["b_after"] = len(book.claim_due_in_tx(conn, holder="ctl-b", now=at))
    assert results == {"a": 1, "b_during": 0, "b_after": 0}


def test_racing_claimers_on_postgresql_claim_each_run_once(pg_store: Store) -> None:
    book = ScheduleBook(pg_store)
    for i in range(5):
        asyncio.run(book.add(half_hourly(f"s{i}"), now=T0))
    at = datetime(2026, 6, 1, 10, 0, 5, tzinfo=UTC)
    barrier = threading.Barrier(4)
    claimed: list[tuple[int, str]] = []
    lock = threading.Lock()

    def claimer(holder: str) -> None:
        barrier.wait()
        with write_tx(pg_store.engine) as conn:
            got = book.claim_due_in_tx(conn, holder=holder, now=at)
        with lock:
            claimed.extend((c.run_id, holder) for c in got)

    threads = [threading.Thread(target=claimer, args=(f"ctl-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    run_ids = [r for r, _ in claimed]
    assert len(run_ids) == 5
    assert len(set(run_ids)) == 5


async def test_a_restarted_controller_skips_only_its_own_runs_that_never_started(
    store: Store,
) -> None:
    """A run claimed by a process that died before take-off would stay 'claimed' forever;
    the restarted controller (same name) closes it. Flying runs and a peer's runs are
    left alone."""
    book = ScheduleBook(store, actor="ctl-a")
    await book.add(half_hourly("a"), now=T0)
    await book.add(half_hourly("b"), now=T0)
    await book.add(half_hourly("c"), now=T0)
    at = datetime(2026, 6, 1, 10, 0, 10, tzinfo=UTC)
    claimed = {c.schedule.name: c for c in await book.claim_due(holder="ctl-a", now=at)}
    await book.run_started(claimed["b"].run_id, sortie_id=3, holder="ctl-a")  # flying
    await book.run_started(claimed["c"].run_id, sortie_id=4, holder="ctl-b")  # a peer's

    assert await book.abandon_unstarted_runs(holder="ctl-a", now=at, detail="restarted") == 1
    runs = {r.schedule_name: r for r in await book.runs()}
    assert runs["a"].status == RunStatus.SKIPPED
    assert runs["a"].detail == "restarted"
    assert runs["a"].finished_utc == at
    assert runs["b"].status == RunStatus.FLYING
    assert runs["c"].status == RunStatus.FLYING
    assert await book.abandon_unstarted_runs(holder="ctl-a", now=at, detail="again") == 0
    skips = [e for e in await store.audit.entries() if e.action == "schedule.run.skip"]
    assert [e.target for e in skips] == [f"schedule_run:{claimed['a'].run_id}"]
