"""Writes that must not be lost (audit entries, sortie records, incidents) across an outage.

They wait out a short outage and are written exactly once; past
`StoreConfig.outage_s` they fail with one line naming what was not written;
and a write whose COMMIT answer was lost is settled by its audit entry's hash
rather than repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from store_helpers import PrivatePostgres

from drone_ops.incidents import IncidentDraft, Incidents, Severity
from drone_ops.schedule import PlanSource, Schedule
from drone_ops.scheduling import ScheduleBook
from drone_ops.store import SortieOutcome, Store, StoreConfig, StoreUnreachableError, open_store
from drone_ops.store.verify import verify_store


async def test_audit_sortie_and_incident_writes_wait_out_a_postgresql_restart(
    private_pg: PrivatePostgres,
) -> None:
    config = StoreConfig(url=private_pg.url, connect_timeout_s=2, outage_s=120)
    async with open_store(config) as store:
        await store.audit.append(actor="t", action="before", target="x", payload={})
        await asyncio.to_thread(private_pg.stop)
        async with asyncio.TaskGroup() as tg:
            append = tg.create_task(
                store.audit.append(actor="t", action="during", target="x", payload={"n": 1}),
                name="append",
            )
            opened = tg.create_task(
                store.open_sortie(vehicle_id="v1", plan_name="p", plan_json={}), name="open"
            )
            raised = tg.create_task(
                Incidents(store).raise_incident(
                    IncidentDraft(
                        kind="mark",
                        severity=Severity.INFO,
                        time_unix_us=1,
                        summary="marked while the store was down",
                        vehicle_id="v1",
                    ),
                    actor="t",
                ),
                name="raise",
            )
            await store.outage.waiting.wait()  # they are retrying, not failing
            assert not any(t.done() for t in (append, opened, raised))
            assert "cannot reach the store" in (store.outage.stats.last_error or "")
            await asyncio.to_thread(private_pg.start)
        sortie_id = opened.result()
        record = await store.close_sortie(sortie_id, outcome=SortieOutcome.COMPLETED)
        assert record.outcome is SortieOutcome.COMPLETED
        assert not store.outage.waiting.is_set()
        actions = [e.action for e in await store.audit.entries()]
        assert sorted(actions) == sorted(
            ["before", "during", "sortie.open", "incident.raise", "sortie.close"]
        )
        assert actions[0] == "before"
        assert actions[-1] == "sortie.close"
        assert [i.incident_id for i in await Incidents(store).query()] == [
            raised.result().incident_id
        ]
        report = await verify_store(store)
        assert report.ok, report.summary()


async def test_past_the_bound_a_write_fails_in_one_line_naming_it(
    private_pg: PrivatePostgres,
) -> None:
    config = StoreConfig(url=private_pg.url, connect_timeout_s=1, outage_s=0.5)
    async with open_store(config) as store:
        await asyncio.to_thread(private_pg.stop)
        with pytest.raises(StoreUnreachableError) as failed:
            await store.audit.append(
                actor="t", action="command.rtl.request", target="vehicle:v1", payload={}
            )
        message = str(failed.value)
        assert "\n" not in message
        assert "audit entry command.rtl.request vehicle:v1 was not written" in message
        assert "unavailable for 0.5 s" in message
        with pytest.raises(StoreUnreachableError, match=r"sortie of v1 \(p\) was not written"):
            await store.open_sortie(vehicle_id="v1", plan_name="p", plan_json={})
        assert store.outage.stats.given_up == 2
        assert not store.outage.waiting.is_set()


@contextmanager
def commit_answer_lost(store: Store, *, committed: bool) -> Iterator[list[int]]:
    """The next COMMIT fails as if the server went away; `committed`: after committing.

    This fakes only the lost answer at the driver boundary; the database is real.
    """
    calls: list[int] = []

    def on_commit(conn: Connection) -> None:
        if calls:
            return
        calls.append(1)
        if committed:
            conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]
        raise OperationalError(
            "COMMIT", None, psycopg.OperationalError("server closed the connection unexpectedly")
        )

    event.listen(store.engine, "commit", on_commit)
    try:
        yield calls
    finally:
        event.remove(store.engine, "commit", on_commit)


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "rolled-back"])
async def test_a_write_whose_commit_answer_was_lost_happens_exactly_once(
    pg_url: str, committed: bool
) -> None:
    async with open_store(StoreConfig(url=pg_url)) as store:
        with commit_answer_lost(store, committed=committed) as calls:
            entry = await store.audit.append(actor="t", action="a", target="x", payload={})
            sortie_id = await store.open_sortie(vehicle_id="v1", plan_name="p", plan_json={})
        assert calls == [1]
        entries = await store.audit.entries()
        assert [e.action for e in entries] == ["a", "sortie.open"]
        assert entries[0].hash == entry.hash
        assert [s.sortie_id for s in await store.sorties()] == [sortie_id]
        assert store.outage.stats.retries == 1
        report = await verify_store(store)
        assert report.ok, report.summary()


async def test_closing_a_closed_sortie_again_when_the_commit_answer_is_lost_returns_it(
    pg_url: str,
) -> None:
    """A second close (the first one's answer was lost past the bound, say) finds the
    row closed and appends nothing; its own COMMIT answer lost must not make it fail:
    the transaction changed nothing, so trying again is safe."""
    async with open_store(StoreConfig(url=pg_url)) as store:
        sortie_id = await store.open_sortie(vehicle_id="v1", plan_name="p", plan_json={})
        first = await store.close_sortie(sortie_id, outcome=SortieOutcome.COMPLETED)
        with commit_answer_lost(store, committed=True) as calls:
            again = await store.close_sortie(sortie_id, outcome=SortieOutcome.COMPLETED)
        assert calls == [1]
        assert again == first
        actions = [e.action for e in await store.audit.entries()]
        assert actions == ["sortie.open", "sortie.close"]
        report = await verify_store(store)
        assert report.ok, report.summary()


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "rolled-back"])
async def test_a_claim_whose_commit_answer_was_lost_is_read_back_not_lost(
    pg_url: str, committed: bool
) -> None:
    """Committed: the claimed run is found by the claim's audit entry and returned, so
    the scheduler flies it (before, the claim failed and the run stayed `claimed`
    with nobody to fly it). Rolled back: the claim is simply made again."""
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    async with open_store(StoreConfig(url=pg_url)) as store:
        book = ScheduleBook(store, actor="test")
        await book.add(
            Schedule(
                name="hourly",
                plan=PlanSource(generator="square", params={"side_m": 20}),
                interval_s=3600,
            ),
            now=t0,
        )
        with commit_answer_lost(store, committed=committed) as calls:
            claimed = await book.claim_due(holder="ctl-a", now=t0 + timedelta(hours=1, seconds=5))
        assert calls == [1]
        runs = await book.runs("hourly")
        assert [(r.run_id, r.status, r.claimed_by) for r in runs] == [
            (c.run_id, "claimed", "ctl-a") for c in claimed
        ]
        assert len(claimed) == 1
        assert claimed[0].due_utc == t0 + timedelta(hours=1)
        assert claimed[0].schedule.name == "hourly"
        actions = [e.action for e in await store.audit.entries()]
        assert actions.count("schedule.claim") == 1
        report = await verify_store(store)
        assert report.ok, report.summary()
