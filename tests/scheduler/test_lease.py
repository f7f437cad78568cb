"""Vehicle leases on real SQLite and PostgreSQL: expiry, take-over, fencing."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import pytest

from drone_ops.audit import MemoryAuditLog
from drone_ops.config import ControllerConfig
from drone_ops.fleet import Fleet
from drone_ops.lease import (
    FencedAuditLog,
    Lease,
    LeaseKeeper,
    LeaseLostError,
    acquire,
    check,
    current,
    renew,
)
from drone_ops.sortie import SortieOutcome
from drone_ops.store import Store, StoreConfig, StoreUnreachableError, open_store
from drone_ops.store.engine import make_engine, read_tx, write_tx
from drone_ops.store.records import now_us as wall_now_us
from missions.plan import ItemKind
from tests.controller.conftest import patrol
from tests.store.store_helpers import PrivatePostgres

S = 1_000_000  # µs


class ManualClock:
    def __init__(self, start_us: int = 1_000 * S) -> None:
        self.now = start_us

    def __call__(self) -> int:
        return self.now


def _acquire(store: Store, holder: str, now: int, ttl_s: float = 10.0) -> Lease | None:
    with write_tx(store.engine) as conn:
        return acquire(conn, vehicle_id="v1", holder=holder, now_us=now, ttl_s=ttl_s)


def test_one_holder_at_a_time_and_take_over_after_expiry_bumps_the_token(store: Store) -> None:
    a = _acquire(store, "ctl-a", 1000 * S)
    assert a is not None
    assert a.token == 1
    assert _acquire(store, "ctl-b", 1005 * S) is None  # held, not expired
    again = _acquire(store, "ctl-a", 1005 * S)  # the holder re-acquiring renews
    assert again is not None
    assert again.token == 1
    assert again.expires_us == 1015 * S
    b = _acquire(store, "ctl-b", 1015 * S)  # expired exactly now: taken over
    assert b is not None
    assert b.token == 2
    with write_tx(store.engine) as conn, pytest.raises(LeaseLostError, match="ctl-a lost"):
        renew(conn, a, now_us=1016 * S, ttl_s=10)
    with read_tx(store.engine) as conn:
        with pytest.raises(LeaseLostError, match="command refused"):
            check(conn, a, now_us=1016 * S)  # the fence refuses the old token
        check(conn, b, now_us=1016 * S)  # the new holder passes
        assert current(conn, "v1") == b


def test_an_expired_lease_nobody_took_can_be_renewed_with_the_same_token(store: Store) -> None:
    a = _acquire(store, "ctl-a", 1000 * S, ttl_s=1)
    assert a is not None
    with write_tx(store.engine) as conn:
        renewed = renew(conn, a, now_us=2000 * S, ttl_s=1)
    assert renewed.token == a.token
    assert renewed.expires_us == 2001 * S


async def test_keeper_drops_a_lease_taken_over_and_reports_it(store: Store) -> None:
    clock = ManualClock()
    lost: list[str] = []
    async with LeaseKeeper.running(
        store.engine, holder="ctl-a", ttl_s=5, now_us=clock, on_lost=lost.append
    ) as keeper:
        lease = await keeper.acquire("v1")
        assert lease is not None
        assert await keeper.verify("v1") == lease.token
        clock.now += 6 * S  # ctl-a stalls past its expiry; ctl-b takes over
        b = _acquire(store, "ctl-b", clock.now)
        assert b is not None
        assert b.token == lease.token + 1
        with pytest.raises(LeaseLostError):
            await keeper.verify("v1")
        assert lost == ["v1"]
        with pytest.raises(LeaseLostError):
            keeper.token("v1")
        await keeper.renew_all()  # nothing left to renew, nothing breaks
    with read_tx(store.engine) as conn:
        assert current(conn, "v1") == b  # leaving ctl-a's keeper did not release ctl-b's lease


async def test_keeper_release_on_exit_frees_the_vehicle_for_the_next_holder(store: Store) -> None:
    clock = ManualClock()
    async with LeaseKeeper.running(store.engine, holder="ctl-a", now_us=clock) as keeper:
        assert await keeper.acquire("v1") is not None
    b = _acquire(store, "ctl-b", clock.now)  # no waiting for expiry after a clean exit
    assert b is not None
    assert b.token == 2


async def test_keeper_renews_in_the_background(store: Store) -> None:
    clock = ManualClock()
    async with LeaseKeeper.running(store.engine, holder="ctl-a", ttl_s=0.3, now_us=clock) as k:
        first = await k.acquire("v1")
        assert first is not None
        clock.now += 1 * S
        await k.wait_renewed()  # the renewal task runs every ttl/3 of wall time
        assert k.held()["v1"].expires_us == clock.now + int(0.3 * S)


def test_racing_controllers_on_postgresql_get_exactly_one_lease(pg_store: Store) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def contend(holder: str) -> None:
        barrier.wait()
        if _acquire(pg_store, holder, 1000 * S) is not None:
            winners.append(holder)

    threads = [threading.Thread(target=contend, args=(f"ctl-{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


async def test_fenced_audit_stamps_the_token_and_refuses_after_take_over(store: Store) -> None:
    clock = ManualClock()
    inner = MemoryAuditLog()
    async with LeaseKeeper.running(store.engine, holder="ctl-a", ttl_s=5, now_us=clock) as keeper:
        audit = FencedAuditLog(inner, keeper)
        with pytest.raises(LeaseLostError):  # no lease yet: nothing may be commanded
            await audit.append(
                actor="a", action="command.arm.request", target="vehicle:v1", payload={}
            )
        lease = await keeper.acquire("v1")
        assert lease is not None
        entry = await audit.append(
            actor="a", action="command.goto.request", target="vehicle:v1", payload={"alt": 30}
        )
        assert entry.payload == {"alt": 30, "lease_holder": "ctl-a", "lease_token": lease.token}
        await audit.append(actor="a", action="sortie.open", target="sortie:1", payload={})
        clock.now += 6 * S
        assert _acquire(store, "ctl-b", clock.now) is not None
        with pytest.raises(LeaseLostError):
            await audit.append(
                actor="a", action="command.rtl.request", target="vehicle:v1", payload={}
            )
    assert [e.action for e in inner.entries] == ["command.goto.request", "sortie.open"]


async def test_a_restarted_controller_takes_its_own_lease_at_once_and_fences_the_old_one(
    store: Store,
) -> None:
    """Same holder name, new process: no wait for expiry, but a new token, so the
    previous process (were it only paused, not dead) is refused at the fence."""
    clock = ManualClock()
    async with LeaseKeeper.running(store.engine, holder="ctl-a", ttl_s=60, now_us=clock) as old:
        before = await old.acquire("v1")
        assert before is not None
        again = await old.acquire("v1")  # the same process re-acquiring keeps its token
        assert again is not None
        assert again.token == before.token
        clock.now += 1 * S  # well inside the lease: the old process never released it
        async with LeaseKeeper.running(store.engine, holder="ctl-a", ttl_s=60, now_us=clock) as new:
            lease = await new.acquire("v1")
            assert lease is not None
            assert lease.token == before.token + 1
            with pytest.raises(LeaseLostError):
                await old.verify("v1")  # the earlier incarnation is fenced out
            assert await new.verify("v1") == lease.token


# ---------------------------------------------------------------- a PostgreSQL restart


def _row(store: Store) -> Lease | None:
    with read_tx(store.engine) as conn:
        return current(conn, "v1")


async def test_the_fence_waits_out_a_restart_and_renews_a_lease_that_ran_out_meanwhile(
    private_pg: PrivatePostgres,
) -> None:
    """Down longer than the lease: renewal keeps the lease (nobody can take it without
    the store), the command waits at the fence, and once the store is back the fence
    finds the row still ours with our token and renews it: same token, no error."""
    clock = ManualClock()
    lost: list[str] = []
    config = StoreConfig(url=private_pg.url, connect_timeout_s=1, outage_s=120)
    async with (
        open_store(config) as store,
        LeaseKeeper.running(
            store.engine, holder="ctl-a", ttl_s=5, now_us=clock, on_lost=lost.append, config=config
        ) as keeper,
    ):
        lease = await keeper.acquire("v1")
        assert lease is not None
        audit = FencedAuditLog(MemoryAuditLog(), keeper)
        await asyncio.to_thread(private_pg.stop)
        await keeper.renew_all()  # fails: kept, with a warning
        clock.now += 6 * S  # past the expiry while the store is down
        await keeper.renew_all()
        assert keeper.held()["v1"] == lease
        request = asyncio.create_task(
            audit.append(actor="a", action="command.rtl.request", target="vehicle:v1", payload={})
        )
        await keeper.outage.waiting.wait()  # retrying, not failing
        assert not request.done()
        assert "cannot reach the store" in (keeper.outage.stats.last_error or "")
        await asyncio.to_thread(private_pg.start)
        entry = await request
        assert entry.payload["lease_token"] == lease.token
        assert lost == []
        row = await asyncio.to_thread(_row, store)
        assert row is not None
        assert row.token == lease.token
        assert row.expires_us == clock.now + 5 * S  # renewed by the fence
        assert keeper.held()["v1"].expires_us == row.expires_us


class TakeOverOnFirstLook(ManualClock):
    """Once armed, the first read of the clock (ctl-a's first look at the restarted
    store) lets ctl-b take the expired lease first, through its own connection."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.engine = make_engine(StoreConfig(url=url))
        self.armed = False
        self.taken: Lease | None = None

    def __call__(self) -> int:
        if self.armed:
            self.armed = False
            with write_tx(self.engine) as conn:
                self.taken = acquire(
                    conn, vehicle_id="v1", holder="ctl-b", now_us=self.now, ttl_s=5
                )
        return self.now


async def test_a_lease_taken_over_during_the_outage_is_refused_at_the_fence(
    private_pg: PrivatePostgres,
) -> None:
    clock = TakeOverOnFirstLook(private_pg.url)
    lost: list[str] = []
    config = StoreConfig(url=private_pg.url, connect_timeout_s=1, outage_s=120)
    inner = MemoryAuditLog()
    try:
        async with (
            open_store(config) as store,
            LeaseKeeper.running(
                store.engine,
                holder="ctl-a",
                ttl_s=5,
                now_us=clock,
                on_lost=lost.append,
                config=config,
            ) as keeper,
        ):
            lease = await keeper.acquire("v1")
            assert lease is not None
            audit = FencedAuditLog(inner, keeper)
            await asyncio.to_thread(private_pg.stop)
            clock.now += 6 * S
            request = asyncio.create_task(
                audit.append(
                    actor="a", action="command.rtl.request", target="vehicle:v1", payload={}
                )
            )
            await keeper.outage.waiting.wait()
            clock.armed = True
            await asyncio.to_thread(private_pg.start)
            with pytest.raises(LeaseLostError):
                await request
            assert clock.taken is not None
            assert clock.taken.token == lease.token + 1
            assert lost == ["v1"]
            assert "v1" not in keeper.held()
            assert await asyncio.to_thread(_row, store) == clock.taken  # ours was not renewed
    finally:
        clock.engine.dispose()
    assert inner.entries == []  # the command was never recorded, so never sent


async def test_past_the_bound_the_fence_and_the_renewal_give_up_in_one_line(
    private_pg: PrivatePostgres,
) -> None:
    clock = ManualClock()
    lost: list[str] = []
    config = StoreConfig(url=private_pg.url, connect_timeout_s=1, outage_s=0.5)
    inner = MemoryAuditLog()
    async with (
        open_store(config) as store,
        LeaseKeeper.running(
            store.engine, holder="ctl-a", ttl_s=5, now_us=clock, on_lost=lost.append, config=config
        ) as keeper,
    ):
        assert await keeper.acquire("v1") is not None
        audit = FencedAuditLog(inner, keeper)
        await asyncio.to_thread(private_pg.stop)
        await keeper.renew_all()  # the first failure: the renewal starts counting
        with pytest.raises(StoreUnreachableError) as failed:
            await audit.append(
                actor="a", action="command.arm.request", target="vehicle:v1", payload={}
            )
        message = str(failed.value)
        assert "\n" not in message
        assert "lease check before a command to vehicle v1 could not be made" in message
        assert "unavailable for 0.5 s" in message
        assert lost == []  # not expired yet: kept
        clock.now += 6 * S
        await keeper.renew_all()  # failing for > 0.5 s (the append waited that) and expired
        assert lost == ["v1"]
        assert keeper.held() == {}
    assert inner.entries == []


# ---------------------------------------------------------------- a lease lost in flight


async def test_a_sortie_whose_lease_is_taken_over_in_flight_ends_in_one_line_hands_off(
    sim_fleet: Any, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The plan ends at its last waypoint, so the runner owes an RTL; by then another
    controller holds the vehicle. The RTL is refused at the fence and never sent, the
    sortie closes ERROR with the refusal as its one-line reason, no traceback is
    logged, and the runner sends nothing else (the vehicle is the new holder's)."""
    speedup = 25.0
    clock = ManualClock(start_us=wall_now_us())
    async with (
        open_store(StoreConfig(url=sqlite_url)) as store,
        sim_fleet(count=1, speedup=speedup) as sim,
        LeaseKeeper.running(store.engine, holder="ctl-a", ttl_s=60, now_us=clock) as keeper,
        Fleet(
            audit=FencedAuditLog(store.audit, keeper),
            recorder=store,
            config=ControllerConfig().scaled(speedup),
        ) as fleet,
    ):
        s = await fleet.add_vehicle("v1", f"udpin://127.0.0.1:{sim.api_port(0)}")
        await s.wait_for(lambda st: st.home is not None and st.health_ok is True, timeout_s=30)
        lease = await keeper.acquire("v1")
        assert lease is not None
        plan = patrol(s)
        assert plan.items[-1].kind is ItemKind.RETURN_TO_LAUNCH
        fleet.start_sortie("v1", replace(plan, items=plan.items[:-1]))
        await s.wait_for(lambda st: st.in_air and (st.mission_seq or 0) >= 1, timeout_s=30)
        clock.now += 61 * S  # ctl-a's lease runs out (its renewals stalled); ctl-b takes it
        taken = await asyncio.to_thread(_acquire, store, "ctl-b", clock.now)
        assert taken is not None
        result = await fleet.sortie_result("v1")
        entries = await store.audit.entries(limit=100_000)
    assert result.outcome is SortieOutcome.ERROR
    assert "ctl-a" in result.reason
    assert "command refused" in result.reason
    assert "\n" not in result.reason
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    requests = [e.action for e in entries if e.action.endswith(".request")]
    assert "command.rtl.request" not in requests
