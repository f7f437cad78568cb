"""Vehicle leases between controllers: one holder at a time, expiry, fencing token.

Several controllers share one PostgreSQL store and one fleet. A controller may
command a vehicle only while it holds that vehicle's lease row
(`controller_leases`). A lease expires unless renewed; once expired another
controller may take it over, and every take-over increments the fencing token.
Commands carry the token, and before one is sent the token is checked against
the row, so a controller that was paused (GC, network partition, SIGSTOP) and
lost its lease is refused even if it has not noticed yet: it stops commanding
that vehicle.

Renewal keeps the token; a holder whose lease expired but that nobody took
over may renew it (nobody else can have commanded the vehicle in between,
since the token did not change).

A controller restarted under the same name (killed with SIGKILL, started
again with the same config) takes its own lease back at once, expired or
not: nobody else holds it. But it takes it with a new token (`LeaseKeeper`
asks for a `fresh` token the first time it acquires a vehicle), so a
previous process of that name that is not quite dead (paused, partitioned)
is fenced out like any other former holder.

The row is locked with `SELECT … FOR UPDATE` on PostgreSQL; SQLite serialises
writers with its write lock (`BEGIN IMMEDIATE`), which is equally exclusive for
the single-controller embedded case.

Times are integer microseconds since the epoch from an injectable clock
(`now_us`): leases are about real processes dying, so production uses the
wall clock; tests may pass their own.

A store outage (a PostgreSQL restart) is ridden out like the store's own
durable writes (`drone_ops.store.durable`), bounded by `StoreConfig.outage_s`:
- the fence before a command waits for the store and then checks against it,
  so the command is delayed, never sent unchecked. If the lease ran out
  meanwhile, the check renews it when the row still names us with our token
  (nobody took it: see above); if another controller took it over, the token
  differs and the command is refused, as always;
- renewal keeps trying each round, and the keeper keeps a lease it could not
  renew even past its expiry while the store is unreachable: no other
  controller can take a lease over without the store either, and every
  command is checked against the store first. Only when renewal has failed
  for `outage_s` and the lease has expired is it given up (one warning line);
- past the bound the fence fails with one `StoreUnreachableError` line naming
  the vehicle; the command is not sent.
These calls are safe to repeat after a lost COMMIT answer (`repeatable`):
a check only reads, a renewal or release sets the same values again, and an
acquire repeated finds the row already ours (at worst with a token one higher,
which only fences out more).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from drone_ops.audit import AuditEntry, AuditLog
from drone_ops.errors import DroneOpsError
from drone_ops.store.config import StoreConfig
from drone_ops.store.durable import StoreOutage, durable_call
from drone_ops.store.engine import read_tx, translate_errors, write_tx
from drone_ops.store.errors import StoreError
from drone_ops.store.records import now_us as wall_now_us
from drone_ops.store.schema import controller_leases

__all__ = [
    "FencedAuditLog",
    "Lease",
    "LeaseError",
    "LeaseHeldError",
    "LeaseKeeper",
    "LeaseLostError",
    "acquire",
    "check",
    "release",
    "renew",
]

log = logging.getLogger(__name__)

NowUs = Callable[[], int]
T = TypeVar("T")


class LeaseError(DroneOpsError):
    """Base for lease errors."""


class LeaseHeldError(LeaseError):
    """Another controller holds the vehicle's lease."""


class LeaseLostError(LeaseError):
    """This controller no longer holds the lease: it must stop commanding the vehicle."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    vehicle_id: str
    holder: str
    token: int  # fencing token: increases at every change of holder
    expires_us: int

    def valid_at(self, now_us: int) -> bool:
        return now_us < self.expires_us


def _ttl_us(ttl_s: float) -> int:
    if not (math.isfinite(ttl_s) and ttl_s > 0):
        raise LeaseError(f"lease time {ttl_s!r} s must be > 0")
    return int(ttl_s * 1_000_000)


def _insert_ignore(conn: Connection, vehicle_id: str) -> None:
    """Create the vehicle's row (free, token 0) if it does not exist yet."""
    values = {"vehicle_id": vehicle_id, "holder": "", "expires_us": 0, "fencing_token": 0}
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(controller_leases).values(**values).on_conflict_do_nothing())
    else:
        conn.execute(sqlite_insert(controller_leases).values(**values).on_conflict_do_nothing())


def acquire(
    conn: Connection,
    *,
    vehicle_id: str,
    holder: str,
    now_us: int,
    ttl_s: float,
    fresh: bool = False,
) -> Lease | None:
    """Take or renew the lease inside the caller's write transaction; None if held by another.

    `fresh`: this is a new process of `holder` taking the lease for the first
    time; even when the row already names `holder`, the token is increased so
    that an earlier process of the same name can no longer pass the fence.
    """
    _insert_ignore(conn, vehicle_id)
    row = conn.execute(
        select(controller_leases)
        .where(controller_leases.c.vehicle_id == vehicle_id)
        .with_for_update()
    ).one()
    token = int(row.fencing_token)
    if row.holder != holder or token == 0:
        if int(row.expires_us) > now_us and row.holder:
            return None  # held by someone else and not expired
        token += 1  # a change of holder (or first holder): new fencing token
    elif fresh:
        token += 1  # the same name, a new process: fence out the previous one
    expires = now_us + _ttl_us(ttl_s)
    conn.execute(
        update(controller_leases)
        .where(controller_leases.c.vehicle_id == vehicle_id)
        .values(holder=holder, expires_us=expires, fencing_token=token)
    )
    return Lease(vehicle_id=vehicle_id, holder=holder, token=token, expires_us=expires)


def renew(conn: Connection, lease: Lease, *, now_us: int, ttl_s: float) -> Lease:
    """Extend a lease we still hold (same token); LeaseLostError if it was taken over."""
    expires = now_us + _ttl_us(ttl_s)
    result = conn.execute(
        update(controller_leases)
        .where(
            controller_leases.c.vehicle_id == lease.vehicle_id,
            controller_leases.c.holder == lease.holder,
            controller_leases.c.fencing_token == lease.token,
        )
        .values(expires_us=expires)
    )
    if result.rowcount != 1:
        raise LeaseLostError(
            f"controller {lease.holder} lost the lease on vehicle {lease.vehicle_id} "
            f"(token {lease.token} superseded): it stops commanding that vehicle"
        )
    return Lease(
        vehicle_id=lease.vehicle_id, holder=lease.holder, token=lease.token, expires_us=expires
    )


def check(conn: Connection, lease: Lease, *, now_us: int) -> None:
    """Raise LeaseLostError unless `lease` is the current, unexpired lease (the fence)."""
    row = conn.execute(
        select(controller_leases).where(controller_leases.c.vehicle_id == lease.vehicle_id)
    ).one_or_none()
    if (
        row is None
        or row.holder != lease.holder
        or int(row.fencing_token) != lease.token
        or int(row.expires_us) <= now_us
    ):
        raise LeaseLostError(
            f"controller {lease.holder} no longer holds vehicle {lease.vehicle_id} "
            f"with token {lease.token}: command refused"
        )


def release(conn: Connection, lease: Lease) -> None:
    """Give the lease up at once (expiry now); the token stays, so the next holder's grows."""
    conn.execute(
        update(controller_leases)
        .where(
            controller_leases.c.vehicle_id == lease.vehicle_id,
            controller_leases.c.holder == lease.holder,
            controller_leases.c.fencing_token == lease.token,
        )
        .values(expires_us=0)
    )


def current(conn: Connection, vehicle_id: str) -> Lease | None:
    row = conn.execute(
        select(controller_leases).where(controller_leases.c.vehicle_id == vehicle_id)
    ).one_or_none()
    if row is None or not row.holder:
        return None
    return Lease(
        vehicle_id=vehicle_id,
        holder=str(row.holder),
        token=int(row.fencing_token),
        expires_us=int(row.expires_us),
    )


class LeaseKeeper:
    """A controller's leases: acquires, renews in the background, fences commands.

    Use as `async with LeaseKeeper.running(engine, holder=...) as keeper:`. The
    renewal task renews every lease each `ttl_s / 3`; a lease that cannot be
    renewed (taken over, or the store unreachable for `config.outage_s` and
    the lease expired) is dropped and `on_lost(vehicle_id)` is called: the
    owner stops commanding it. `config` is the store's (its `outage_s` bounds
    the waits, its URL names the store in messages); `outage` is shared with
    the store's durable writes so status displays see one outage.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        holder: str,
        ttl_s: float = 10.0,
        now_us: NowUs = wall_now_us,
        on_lost: Callable[[str], None] | None = None,
        config: StoreConfig | None = None,
        outage: StoreOutage | None = None,
    ) -> None:
        _ttl_us(ttl_s)
        self._engine = engine
        self.holder = holder
        self.ttl_s = ttl_s
        self._now_us = now_us
        self._on_lost = on_lost
        self._config = config or StoreConfig(url=engine.url.render_as_string(hide_password=False))
        self.outage = outage or StoreOutage()
        self._leases: dict[str, Lease] = {}
        self._failing_since: dict[str, float] = {}  # vehicle -> monotonic s renewal began failing
        self._ever_held: set[str] = set()  # first acquire per vehicle takes a fresh token
        self._lock = asyncio.Lock()
        self._renewed = asyncio.Condition()
        self.renewals = 0  # completed renewal rounds

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        engine: Engine,
        *,
        holder: str,
        ttl_s: float = 10.0,
        now_us: NowUs = wall_now_us,
        on_lost: Callable[[str], None] | None = None,
        config: StoreConfig | None = None,
        outage: StoreOutage | None = None,
    ) -> AsyncIterator[LeaseKeeper]:
        keeper = cls(
            engine,
            holder=holder,
            ttl_s=ttl_s,
            now_us=now_us,
            on_lost=on_lost,
            config=config,
            outage=outage,
        )
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(keeper._renew_loop(), name=f"lease-renew:{holder}")
            try:
                yield keeper
            finally:
                task.cancel()
                await keeper.release_all()

    # ---------------------------------------------------------------- queries
    def held(self) -> dict[str, Lease]:
        return dict(self._leases)

    def token(self, vehicle_id: str) -> int:
        """The fencing token to put on a command; LeaseLostError if not held (locally)."""
        lease = self._leases.get(vehicle_id)
        if lease is None or not lease.valid_at(self._now_us()):
            raise LeaseLostError(
                f"controller {self.holder} does not hold the lease on vehicle {vehicle_id}: "
                "command refused"
            )
        return lease.token

    # ---------------------------------------------------------------- actions
    async def _waiting(self, fn: Callable[[], T], *, what: str, not_done: str) -> T:
        """Run `fn` (blocking, repeatable) in a worker thread; wait out an outage."""
        return await durable_call(
            self._engine,
            self._config,
            self.outage,
            fn,
            what=what,
            repeatable=True,
            not_done=not_done,
        )

    async def acquire(self, vehicle_id: str) -> Lease | None:
        """Take the vehicle's lease if free, expired or already ours; None if another
        controller holds it. The first acquire of a vehicle takes a new token.

        It waits out a short store outage; past the bound it raises a one-line
        `StoreUnreachableError`."""
        async with self._lock:
            fresh = vehicle_id not in self._ever_held
            lease = await self._waiting(
                lambda: self._acquire_sync(vehicle_id, fresh),
                what=f"the lease on vehicle {vehicle_id}",
                not_done="was not taken",
            )
            if lease is not None:
                self._leases[vehicle_id] = lease
                self._ever_held.add(vehicle_id)
            return lease

    def _acquire_sync(self, vehicle_id: str, fresh: bool) -> Lease | None:
        with write_tx(self._engine) as conn:
            return acquire(
                conn,
                vehicle_id=vehicle_id,
                holder=self.holder,
                now_us=self._now_us(),
                ttl_s=self.ttl_s,
                fresh=fresh,
            )

    async def verify(self, vehicle_id: str) -> int:
        """The fence: check the token against the store right before a command; returns it.

        While the store is unreachable this waits (up to `outage_s`, then a
        one-line `StoreUnreachableError`): the command is delayed, not sent
        unchecked. A lease that expired meanwhile but that nobody took over is
        renewed here with the same token; one taken over raises LeaseLostError.
        """
        lease = self._leases.get(vehicle_id)
        if lease is None:
            self.token(vehicle_id)  # raises with the message
            raise AssertionError("unreachable")  # pragma: no cover
        try:
            renewed = await self._waiting(
                lambda: self._fence_sync(lease),
                what=f"the lease check before a command to vehicle {vehicle_id}",
                not_done="could not be made (the command was not sent)",
            )
        except LeaseLostError:
            self._drop(vehicle_id)
            raise
        if renewed is not None and vehicle_id in self._leases:
            self._leases[vehicle_id] = renewed
            self._failing_since.pop(vehicle_id, None)
        return lease.token

    def _fence_sync(self, lease: Lease) -> Lease | None:
        """Check the lease; if that fails, renew it if it is still ours (same holder and
        token: it only ran out). None: valid as it was; else the renewed lease."""
        with read_tx(self._engine) as conn:
            try:
                check(conn, lease, now_us=self._now_us())
                return None
            except LeaseLostError as exc:
                refused = exc
        with write_tx(self._engine) as conn:
            try:
                return renew(conn, lease, now_us=self._now_us(), ttl_s=self.ttl_s)
            except LeaseLostError:
                raise refused from None  # taken over: the check's "command refused" says it

    async def release(self, vehicle_id: str) -> None:
        """Give the lease up now. One attempt: if the store cannot take it, the lease
        simply expires after `ttl_s` (a warning says so); this never raises a store
        error, since it runs in cleanup paths where the vehicle already is safe."""
        async with self._lock:
            lease = self._leases.pop(vehicle_id, None)
            self._failing_since.pop(vehicle_id, None)
            if lease is not None:
                try:
                    await asyncio.to_thread(self._release_sync, lease)
                except (StoreError, SQLAlchemyError) as exc:
                    log.warning(
                        "lease on %s not released (it expires by itself in %g s): %s",
                        vehicle_id,
                        self.ttl_s,
                        _one_line(exc),
                    )

    async def release_all(self) -> None:
        for vehicle_id in list(self._leases):
            await self.release(vehicle_id)

    def _release_sync(self, lease: Lease) -> None:
        with translate_errors(self._config), write_tx(self._engine) as conn:
            release(conn, lease)

    async def renew_all(self) -> None:
        """Renew every held lease now (the background task calls this periodically).

        One attempt per lease per round. While the store is unreachable a lease
        is kept, even past its expiry, until renewal has failed for `outage_s`
        (see the module docstring for why that is safe).
        """
        async with self._lock:
            for vehicle_id, lease in list(self._leases.items()):
                try:
                    self._leases[vehicle_id] = await asyncio.to_thread(self._renew_sync, lease)
                    if self._failing_since.pop(vehicle_id, None) is not None:
                        log.info("lease on %s renewed again", vehicle_id)
                except LeaseLostError as exc:
                    log.warning("%s", exc)
                    self._drop(vehicle_id)
                except (DroneOpsError, SQLAlchemyError) as exc:
                    self._renewal_failed(vehicle_id, lease, exc)

        async with self._renewed:
            self.renewals += 1
            self._renewed.notify_all()

    def _renewal_failed(self, vehicle_id: str, lease: Lease, exc: Exception) -> None:
        now = time.monotonic()
        since = self._failing_since.setdefault(vehicle_id, now)
        failing_s = now - since
        if failing_s == 0:  # once per outage at warning level, not every round
            log.warning(
                "lease on %s not renewed; trying again for up to %g s: %s",
                vehicle_id,
                self._config.outage_s,
                _one_line(exc),
            )
        if failing_s >= self._config.outage_s and not lease.valid_at(self._now_us()):
            log.warning(
                "lease on %s given up: the store stayed unavailable for %.0f s and the lease "
                "expired; %s stops commanding that vehicle",
                vehicle_id,
                failing_s,
                self.holder,
            )
            self._drop(vehicle_id)

    async def wait_renewed(self, rounds: int = 1) -> None:
        """Wait until `rounds` more renewal rounds have completed."""
        async with self._renewed:
            target = self.renewals + rounds
            await self._renewed.wait_for(lambda: self.renewals >= target)

    def _renew_sync(self, lease: Lease) -> Lease:
        with translate_errors(self._config), write_tx(self._engine) as conn:
            return renew(conn, lease, now_us=self._now_us(), ttl_s=self.ttl_s)

    def _drop(self, vehicle_id: str) -> None:
        self._failing_since.pop(vehicle_id, None)
        if self._leases.pop(vehicle_id, None) is not None and self._on_lost is not None:
            self._on_lost(vehicle_id)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            await self.renew_all()


def _one_line(exc: BaseException) -> str:
    """A driver error's first line (store errors are one line already)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class FencedAuditLog:
    """The fence on the command path: an `AuditLog` that stamps the lease token on commands.

    The controller appends `command.<name>.request` for `vehicle:<id>` before it
    sends anything. Wrapped in this, that append first checks the vehicle's
    lease against the store and records its fencing token in the entry; if the
    lease was lost, it raises `LeaseLostError` and the command is never sent.
    """

    def __init__(self, inner: AuditLog, keeper: LeaseKeeper) -> None:
        self.inner = inner
        self.keeper = keeper

    async def append(
        self, *, actor: str, action: str, target: str, payload: Mapping[str, Any]
    ) -> AuditEntry:
        if action.startswith("command.") and action.endswith(".request"):
            kind, _, vehicle_id = target.partition(":")
            if kind == "vehicle":
                token = await self.keeper.verify(vehicle_id)
                payload = {**payload, "lease_holder": self.keeper.holder, "lease_token": token}
        return await self.inner.append(actor=actor, action=action, target=target, payload=payload)
