"""Schedules and their runs in the store, and the claim that makes each run happen once.

Row layout (the store's `schedules` / `schedule_runs` tables): a schedule's
full `Schedule` value is kept as JSON in `plan_json` (it holds the plan source:
file or generator parameters); `cron` holds the cron expression or
`@every <N>s`; `next_due_us` is the next run time, and everything before it
has been handled (run, or recorded as skipped).

Claiming: a controller locks the due schedule rows with
`SELECT … FOR UPDATE SKIP LOCKED`, records what is due (a `claimed` run, and
`skipped` runs for missed times), advances `next_due_us` and commits. Another
controller claiming at the same moment skips the locked rows and, once the
first commits, finds nothing due: every run is claimed exactly once, and
nobody waits on anybody. The unique (schedule, due time) constraint is the
second line of defence. SQLite ignores FOR UPDATE; its write lock
(`BEGIN IMMEDIATE`) serialises claimers, which is enough for the embedded
single-controller case.

Run statuses: `claimed` → `flying` (sortie recorded) → the sortie's outcome
(`completed`, `aborted`, `failsafe`, `link_lost`, `refused`, `crashed`,
`error`); or `skipped` with the reason in `detail`.

A run's changes after the claim (started, finished, skipped, a retry noted)
are accountability records like a sortie's: they wait out a short store
outage and are written exactly once (`Store.run_durable`), so a PostgreSQL
restart mid-sortie does not leave the run `claimed` or `flying` for ever.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from drone_ops.roles import Action, Principal, check
from drone_ops.schedule import Schedule, ScheduleError
from drone_ops.store import Store
from drone_ops.store.audit_chain import append_in_tx
from drone_ops.store.engine import read_tx, write_tx
from drone_ops.store.schema import schedule_runs, schedules

__all__ = [
    "ClaimedRun",
    "RunRecord",
    "RunStatus",
    "ScheduleBook",
    "StoredSchedule",
    "dt_from_us",
    "us_from_dt",
]

_REMOVED = "~removed~"


class RunStatus:
    CLAIMED = "claimed"
    FLYING = "flying"
    SKIPPED = "skipped"


def us_from_dt(when: datetime) -> int:
    return round(when.astimezone(UTC).timestamp() * 1_000_000)


def dt_from_us(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1_000_000, UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSchedule:
    schedule_id: int
    schedule: Schedule
    next_due_utc: datetime | None
    created_utc: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedRun:
    """A run this controller claimed: it must fly it or record why not."""

    run_id: int
    schedule_id: int
    schedule: Schedule
    due_utc: datetime
    late: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    run_id: int
    schedule_name: str
    due_utc: datetime
    status: str
    claimed_by: str | None
    sortie_id: int | None
    finished_utc: datetime | None
    detail: str | None


def _timing_text(s: Schedule) -> str:
    return s.cron if s.cron is not None else f"@every {s.interval_s:g}s"


def _stored(row: Any) -> StoredSchedule:
    spec = Schedule.from_json(json.loads(row.plan_json))
    return StoredSchedule(
        schedule_id=int(row.schedule_id),
        schedule=spec,
        next_due_utc=None if row.next_due_us is None else dt_from_us(int(row.next_due_us)),
        created_utc=dt_from_us(int(row.created_us)),
    )


def _claimed_at(holder: str, claimed_us: int) -> Callable[[Connection, Any], list[ClaimedRun]]:
    """Rebuild a committed claim's result: the runs `holder` claimed at that instant."""

    def recover(conn: Connection, _entry: Any) -> list[ClaimedRun]:
        rows = conn.execute(
            select(schedule_runs, schedules.c.plan_json)
            .join(schedules, schedules.c.schedule_id == schedule_runs.c.schedule_id)
            .where(
                schedule_runs.c.claimed_by == holder,
                schedule_runs.c.claimed_us == claimed_us,
                schedule_runs.c.status == RunStatus.CLAIMED,
            )
            .order_by(schedule_runs.c.run_id)
        ).all()
        return [
            ClaimedRun(
                run_id=int(r.run_id),
                schedule_id=int(r.schedule_id),
                schedule=Schedule.from_json(json.loads(r.plan_json)),
                due_utc=dt_from_us(int(r.due_us)),
                late=r.detail == "late",
            )
            for r in rows
        ]

    return recover


def _nothing(_conn: Connection, _entry: Any) -> None:
    """A run change whose commit was in doubt did commit: nothing to rebuild."""


def _insert_run(conn: Connection, **values: Any) -> int | None:
    """Insert a run row unless one exists for (schedule, due); its id, or None if it existed."""
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = ins(schedule_runs).values(**values).on_conflict_do_nothing()
    row = conn.execute(stmt.returning(schedule_runs.c.run_id)).one_or_none()
    return None if row is None else int(row.run_id)


class ScheduleBook:
    """Schedules in a store: add/list/pause/resume/remove, claim due runs, record outcomes.

    Every change is written with its audit entry in the same transaction.
    """

    def __init__(
        self, store: Store, *, actor: str = "scheduler", principal: Principal | None = None
    ) -> None:
        # With a principal (a person), add/pause/resume/remove need a role that may
        # manage schedules and are recorded under it; the scheduler itself has none.
        self.store = store
        self.principal = principal
        self.actor = actor if principal is None else principal.audit_actor

    async def _authorize(self, target: str) -> None:
        await check(self.principal, Action.MANAGE_SCHEDULES, audit=self.store.audit, target=target)

    # ------------------------------------------------------------ CRUD
    async def add(self, schedule: Schedule, *, now: datetime) -> StoredSchedule:
        await self._authorize(f"schedule:{schedule.name}")
        nxt = schedule.next_run_after(now) if schedule.enabled else None
        created = us_from_dt(now)

        def work() -> StoredSchedule:
            try:
                with write_tx(self.store.engine) as conn:
                    sid = int(
                        conn.execute(
                            schedules.insert()
                            .values(
                                name=schedule.name,
                                cron=_timing_text(schedule),
                                timezone=schedule.tz,
                                plan_name=schedule.plan.describe()[:200],
                                plan_json=json.dumps(schedule.to_json(), sort_keys=True),
                                vehicle_id=schedule.vehicles[0]
                                if len(schedule.vehicles) == 1
                                else None,
                                enabled=schedule.enabled,
                                created_us=created,
                                next_due_us=None if nxt is None else us_from_dt(nxt),
                            )
                            .returning(schedules.c.schedule_id)
                        ).scalar_one()
                    )
                    append_in_tx(
                        conn,
                        actor=self.actor,
                        action="schedule.add",
                        target=f"schedule:{sid}",
                        payload=schedule.to_json(),
                    )
            except IntegrityError as exc:
                raise ScheduleError(
                    f"a schedule named {schedule.name!r} already exists: pick another name "
                    "or remove the old one"
                ) from exc
            return StoredSchedule(
                schedule_id=sid,
                schedule=schedule,
                next_due_utc=nxt,
                created_utc=dt_from_us(created),
            )

        return await self.store.run(work)

    async def schedules(self) -> list[StoredSchedule]:
        def work() -> list[StoredSchedule]:
            with read_tx(self.store.engine) as conn:
                rows = conn.execute(
                    select(schedules)
                    .where(schedules.c.name.not_like(f"%{_REMOVED}%"))
                    .order_by(schedules.c.name)
                ).all()
            return [_stored(r) for r in rows]

        return await self.store.run(work)

    def _row_by_name(self, conn: Connection, name: str, *, lock: bool = False) -> Any:
        query = select(schedules).where(schedules.c.name == name)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            raise ScheduleError(
                f"no schedule named {name!r}: see the names with 'drone-ops schedule list'"
            )
        return row

    async def get(self, name: str) -> StoredSchedule:
        def work() -> StoredSchedule:
            with read_tx(self.store.engine) as conn:
                return _stored(self._row_by_name(conn, name))

        return await self.store.run(work)

    async def set_enabled(self, name: str, enabled: bool, *, now: datetime) -> StoredSchedule:
        """Pause or resume. Runs that fall while paused are not 'missed': resuming
        starts from the next run after `now`."""
        await self._authorize(f"schedule:{name}")

        def work() -> StoredSchedule:
            with write_tx(self.store.engine) as conn:
                row = self._row_by_name(conn, name, lock=True)
                spec = replace(Schedule.from_json(json.loads(row.plan_json)), enabled=enabled)
                nxt = spec.next_run_after(now) if enabled else None
                conn.execute(
                    update(schedules)
                    .where(schedules.c.schedule_id == row.schedule_id)
                    .values(
                        enabled=enabled,
                        plan_json=json.dumps(spec.to_json(), sort_keys=True),
                        next_due_us=None if nxt is None else us_from_dt(nxt),
                    )
                )
                append_in_tx(
                    conn,
                    actor=self.actor,
                    action="schedule.resume" if enabled else "schedule.pause",
                    target=f"schedule:{row.schedule_id}",
                    payload={"name": name},
                )
                return StoredSchedule(
                    schedule_id=int(row.schedule_id),
                    schedule=spec,
                    next_due_utc=nxt,
                    created_utc=dt_from_us(int(row.created_us)),
                )

        return await self.store.run(work)

    async def remove(self, name: str) -> None:
        """Retire a schedule. Its run history stays (renamed out of the way)."""
        await self._authorize(f"schedule:{name}")

        def work() -> None:
            with write_tx(self.store.engine) as conn:
                row = self._row_by_name(conn, name, lock=True)
                conn.execute(
                    update(schedules)
                    .where(schedules.c.schedule_id == row.schedule_id)
                    .values(
                        name=f"{name}{_REMOVED}{row.schedule_id}",
                        enabled=False,
                        next_due_us=None,
                    )
                )
                append_in_tx(
                    conn,
                    actor=self.actor,
                    action="schedule.remove",
                    target=f"schedule:{row.schedule_id}",
                    payload={"name": name},
                )

        await self.store.run(work)

    # ------------------------------------------------------------ claiming
    def claim_due_in_tx(self, conn: Connection, *, holder: str, now: datetime) -> list[ClaimedRun]:
        """Claim what is due at `now` inside the caller's write transaction."""
        now_us = us_from_dt(now)
        rows = conn.execute(
            select(schedules)
            .where(
                schedules.c.enabled.is_(True),
                schedules.c.next_due_us.is_not(None),
                schedules.c.next_due_us <= now_us,
            )
            .order_by(schedules.c.next_due_us)
            .with_for_update(skip_locked=True)
        ).all()
        claimed: list[ClaimedRun] = []
        for row in rows:
            spec = Schedule.from_json(json.loads(row.plan_json))
            sid = int(row.schedule_id)
            due = spec.due(cursor=dt_from_us(int(row.next_due_us) - 1), now=now)
            for missed in due.missed_utc:
                _insert_run(
                    conn,
                    schedule_id=sid,
                    due_us=us_from_dt(missed),
                    status=RunStatus.SKIPPED,
                    claimed_by=holder,
                    claimed_us=now_us,
                    finished_us=now_us,
                    detail="missed: no controller was running at its time",
                )
            if due.missed_utc or due.missed_uncounted:
                append_in_tx(
                    conn,
                    actor=holder,
                    action="schedule.missed",
                    target=f"schedule:{sid}",
                    payload={
                        "listed": len(due.missed_utc),
                        "counted_only": due.missed_uncounted,
                        "first": due.missed_utc[0] if due.missed_utc else None,
                    },
                )
            if due.run_utc is not None:
                run_id = _insert_run(
                    conn,
                    schedule_id=sid,
                    due_us=us_from_dt(due.run_utc),
                    status=RunStatus.CLAIMED,
                    claimed_by=holder,
                    claimed_us=now_us,
                    detail="late" if due.late else None,
                )
                if run_id is not None:
                    claimed.append(
                        ClaimedRun(
                            run_id=run_id,
                            schedule_id=sid,
                            schedule=spec,
                            due_utc=due.run_utc,
                            late=due.late,
                        )
                    )
                    append_in_tx(
                        conn,
                        actor=holder,
                        action="schedule.claim",
                        target=f"schedule:{sid}",
                        payload={"run_id": run_id, "due": due.run_utc, "late": due.late},
                    )
            nxt = spec.next_run_after(now)
            conn.execute(
                update(schedules)
                .where(schedules.c.schedule_id == sid)
                .values(next_due_us=None if nxt is None else us_from_dt(nxt))
            )
        return claimed

    async def claim_due(self, *, holder: str, now: datetime) -> list[ClaimedRun]:
        """Claim what is due; waits out a short outage. A claim whose COMMIT answer was
        lost is found by its audit entry and its runs read back, so a run claimed then
        is flown, not left `claimed` with nobody flying it."""

        def work() -> list[ClaimedRun]:
            with write_tx(self.store.engine) as conn:
                return self.claim_due_in_tx(conn, holder=holder, now=now)

        # repeatable: a claim in doubt that appended no entry claimed nothing
        return await self.store.run_durable(
            work,
            what="the claim of due runs",
            recover=_claimed_at(holder, us_from_dt(now)),
            repeatable=True,
        )

    async def next_due(self) -> datetime | None:
        """The earliest next run of any enabled schedule (for the scheduler's sleep)."""

        def work() -> datetime | None:
            with read_tx(self.store.engine) as conn:
                value = conn.execute(
                    select(func.min(schedules.c.next_due_us)).where(schedules.c.enabled.is_(True))
                ).scalar_one_or_none()
            return None if value is None else dt_from_us(int(value))

        return await self.store.run(work)

    # ------------------------------------------------------------ run outcomes
    async def _set_run(self, run_id: int, action: str, **values: Any) -> None:
        """One change of a run with its audit entry, waiting out a short outage."""

        def work() -> None:
            with write_tx(self.store.engine) as conn:
                conn.execute(
                    update(schedule_runs).where(schedule_runs.c.run_id == run_id).values(**values)
                )
                append_in_tx(
                    conn,
                    actor=self.actor,
                    action=action,
                    target=f"schedule_run:{run_id}",
                    payload={k: v for k, v in values.items() if k != "finished_us"},
                )

        await self.store.run_durable(work, what=f"{action} of run {run_id}", recover=_nothing)

    async def run_started(self, run_id: int, *, sortie_id: int, holder: str) -> None:
        await self._set_run(
            run_id,
            "schedule.run.start",
            status=RunStatus.FLYING,
            sortie_id=sortie_id,
            claimed_by=holder,
        )

    async def run_finished(
        self, run_id: int, *, outcome: str, now: datetime, detail: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": outcome[:16], "finished_us": us_from_dt(now)}
        if detail is not None:
            values["detail"] = detail
        await self._set_run(run_id, "schedule.run.end", **values)

    async def run_skipped(self, run_id: int, *, reason: str, now: datetime) -> None:
        await self._set_run(
            run_id,
            "schedule.run.skip",
            status=RunStatus.SKIPPED,
            finished_us=us_from_dt(now),
            detail=reason,
        )

    async def note_attempt(self, run_id: int, *, detail: str) -> None:
        """Record why an attempt did not start (the run stays claimed for a retry)."""
        await self._set_run(run_id, "schedule.run.retry", detail=detail)

    async def finish_runs_of_sortie(
        self, sortie_id: int, *, outcome: str, now: datetime, detail: str
    ) -> None:
        """Close the run a sortie was flying (shutdown, take-over)."""

        def work() -> None:
            with write_tx(self.store.engine) as conn:
                done = conn.execute(
                    update(schedule_runs)
                    .where(
                        schedule_runs.c.sortie_id == sortie_id,
                        schedule_runs.c.finished_us.is_(None),
                    )
                    .values(status=outcome[:16], finished_us=us_from_dt(now), detail=detail)
                )
                if done.rowcount:
                    append_in_tx(
                        conn,
                        actor=self.actor,
                        action="schedule.run.end",
                        target=f"sortie:{sortie_id}",
                        payload={"status": outcome, "detail": detail},
                    )

        # repeatable: only a run not finished yet is changed
        await self.store.run_durable(
            work, what=f"end of the run of sortie {sortie_id}", repeatable=True
        )

    async def abandon_unstarted_runs(self, *, holder: str, now: datetime, detail: str) -> int:
        """Record as skipped the runs `holder` claimed but never started flying.

        Called by a controller at start-up, before its first claim: any run
        still `claimed` under its name belongs to a previous process that died
        (its retry loop died with it), so nobody would ever finish it.
        Returns how many were closed.
        """

        def work() -> int:
            with write_tx(self.store.engine) as conn:
                ids = [
                    int(r.run_id)
                    for r in conn.execute(
                        select(schedule_runs.c.run_id).where(
                            schedule_runs.c.claimed_by == holder,
                            schedule_runs.c.status == RunStatus.CLAIMED,
                            schedule_runs.c.finished_us.is_(None),
                        )
                    ).all()
                ]
                for run_id in ids:
                    conn.execute(
                        update(schedule_runs)
                        .where(schedule_runs.c.run_id == run_id)
                        .values(
                            status=RunStatus.SKIPPED, finished_us=us_from_dt(now), detail=detail
                        )
                    )
                    append_in_tx(
                        conn,
                        actor=self.actor,
                        action="schedule.run.skip",
                        target=f"schedule_run:{run_id}",
                        payload={"status": RunStatus.SKIPPED, "detail": detail},
                    )
                return len(ids)

        return await self.store.run(work)

    async def runs(self, name: str | None = None, *, limit: int = 1000) -> list[RunRecord]:
        def work() -> list[RunRecord]:
            query = (
                select(schedule_runs, schedules.c.name)
                .join(schedules, schedules.c.schedule_id == schedule_runs.c.schedule_id)
                .order_by(schedule_runs.c.due_us, schedule_runs.c.run_id)
                .limit(limit)
            )
            if name is not None:
                query = query.where(schedules.c.name == name)
            with read_tx(self.store.engine) as conn:
                rows: Sequence[Any] = conn.execute(query).all()
            return [
                RunRecord(
                    run_id=int(r.run_id),
                    schedule_name=str(r.name).split(_REMOVED)[0],
                    due_utc=dt_from_us(int(r.due_us)),
                    status=str(r.status),
                    claimed_by=r.claimed_by,
                    sortie_id=None if r.sortie_id is None else int(r.sortie_id),
                    finished_utc=None if r.finished_us is None else dt_from_us(int(r.finished_us)),
                    detail=r.detail,
                )
                for r in rows
            ]

        return await self.store.run(work)
