"""In-process fan-out bus with a bounded queue and a stated policy per subscriber.

The vehicle link publishes every `TelemetrySample` here (50 Hz × 50 vehicles);
sinks (store writer, MQTT bridge, TUI, incident rules) subscribe. `publish()`
is a plain method: it never awaits, so a slow or dead subscriber can fall
behind but can never slow the vehicle link. What happens when a subscriber's
queue is full is its `Policy`:

- `Policy.LATEST` (UI, MQTT telemetry): keep the newest, drop the oldest, count
  the drops.
- `Policy.LOSSLESS` (store writer): never drop. When the in-memory queue is
  full, further items spill to a private file on disk and are read back in
  order; the publisher still only pays a buffered write.

There is deliberately no "block the publisher" policy: nothing on the
telemetry path may wait for a consumer. Commands, which must block their
sender, do not travel on this bus.

`publish()` must be called from the event loop's thread (use
``loop.call_soon_threadsafe(bus.publish, item)`` from another thread).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Generic, Self, TypeVar

from telemetry.errors import BusClosedError, TelemetryError
from telemetry.sample import TelemetrySample
from telemetry.spool import DiskSpool

__all__ = ["Bus", "Policy", "Subscription", "SubscriptionStats", "TelemetryBus"]

_log = logging.getLogger(__name__)

T = TypeVar("T")

_DEFAULT_MAXSIZE: Final = 4096


class Policy(enum.Enum):
    """What a subscription does when its in-memory queue is full."""

    LATEST = "latest"  # drop the oldest item, keep the newest
    LOSSLESS = "lossless"  # spill to disk, read back in order, never drop


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionStats:
    """A snapshot of one subscriber's health, for the TUI, logs and metrics."""

    name: str
    policy: Policy
    depth: int  # items waiting: in memory plus spooled
    lag_s: float  # how long the oldest waiting item has waited
    delivered: int  # items handed to the consumer
    dropped: int  # LATEST: oldest items discarded; LOSSLESS: lost to disk errors only
    spilled: int  # LOSSLESS: items that went through the disk spool
    spool_depth: int  # items on disk right now
    spool_bytes: int
    closed: bool


class Subscription(Generic[T]):
    """One consumer's queue. Iterate it, or take items with `get`/`get_batch`."""

    def __init__(
        self,
        name: str,
        policy: Policy,
        maxsize: int,
        spool_dir: Path | None,
        clock_ns: Callable[[], int],
    ) -> None:
        if maxsize < 1:
            raise TelemetryError(f"subscription '{name}' maxsize must be at least 1")
        self.name: Final = name
        self.policy: Final = policy
        self._latest = policy is Policy.LATEST
        self.maxsize: Final = maxsize
        self._items: deque[tuple[int, T]] = deque()
        self._spool_dir = spool_dir
        self._spool: DiskSpool[T] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._delivered = 0
        self._dropped = 0
        self._spilled = 0
        self._clock_ns = clock_ns

    # ------------------------------------------------------------ publisher side

    def _offer(self, now_ns: int, item: T) -> None:
        if self._closed:
            return
        items = self._items
        if self._latest:  # a plain bool: this runs 2,500 times a second per subscriber
            if len(items) >= self.maxsize:
                items.popleft()
                self._dropped += 1
            items.append((now_ns, item))
        else:
            spool = self._spool
            # Once spilling, everything goes to disk until it drains, to keep order.
            if len(items) < self.maxsize and (spool is None or len(spool) == 0):
                items.append((now_ns, item))
            else:
                self._spill(now_ns, item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _spill(self, now_ns: int, item: T) -> None:
        try:
            if self._spool is None:
                self._spool = DiskSpool(self._spool_dir, name=self.name)
                _log.warning(
                    "subscription %r fell behind; spilling to %s", self.name, self._spool.path
                )
            self._spool.append(now_ns, item)
            self._spilled += 1
        except (OSError, TelemetryError):
            self._dropped += 1  # the one way a lossless subscriber loses data: say so loudly
            _log.exception("subscription %r could not spill to disk; item lost", self.name)

    def _close(self) -> None:
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------ consumer side

    def __len__(self) -> int:
        return len(self._items) + (len(self._spool) if self._spool is not None else 0)

    def _refill(self) -> None:
        if not self._items and self._spool is not None and len(self._spool) > 0:
            self._items.extend(self._spool.read(self.maxsize))

    async def _wait(self) -> None:
        """Wait until an item is available; raise BusClosedError once closed and drained."""
        while True:
            self._refill()
            if self._items:
                return
            if self._closed:
                raise BusClosedError(f"subscription '{self.name}' is closed")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def get(self) -> T:
        """The next item, waiting if there is none."""
        await self._wait()
        self._delivered += 1
        return self._items.popleft()[1]

    def get_nowait(self) -> T | None:
        """The next item, or None if nothing is waiting."""
        self._refill()
        if not self._items:
            return None
        self._delivered += 1
        return self._items.popleft()[1]

    async def get_batch(self, max_items: int) -> list[T]:
        """Wait for one item, then take up to `max_items` in order (for batched writers)."""
        await self._wait()
        items = self._items
        n = min(max_items, len(items))
        batch = [items.popleft()[1] for _ in range(n)]
        self._delivered += n
        return batch

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            try:
                item = await self.get()
            except BusClosedError:
                return
            yield item

    def stats(self) -> SubscriptionStats:
        spool = self._spool
        spool_depth = len(spool) if spool is not None else 0
        if self._items:
            oldest_ns: int | None = self._items[0][0]
        elif spool is not None:
            oldest_ns = spool.head_enqueued_ns
        else:
            oldest_ns = None
        lag_s = 0.0 if oldest_ns is None else max(0.0, (self._clock_ns() - oldest_ns) / 1e9)
        return SubscriptionStats(
            name=self.name,
            policy=self.policy,
            depth=len(self._items) + spool_depth,
            lag_s=lag_s,
            delivered=self._delivered,
            dropped=self._dropped,
            spilled=self._spilled,
            spool_depth=spool_depth,
            spool_bytes=spool.size_bytes if spool is not None else 0,
            closed=self._closed,
        )

    def _release(self) -> None:
        self._close()
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._items.clear()


class Bus(Generic[T]):
    """Fan-out of items to subscribers; the bus is an async context manager.

    Leaving the bus closes every subscription: consumers still get what is
    queued, then their iteration ends.
    """

    def __init__(
        self,
        *,
        spool_dir: Path | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._clock_ns = clock_ns
        self._subs: tuple[Subscription[T], ...] = ()
        self._spool_dir = spool_dir
        self._closed = False
        self._published = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def published(self) -> int:
        return self._published

    def publish(self, item: T) -> None:
        """Hand `item` to every subscriber per its policy. Never blocks, never awaits."""
        if self._closed:
            raise BusClosedError("the telemetry bus is closed; publish before leaving it")
        self._published += 1
        now_ns = self._clock_ns()
        for sub in self._subs:
            sub._offer(now_ns, item)

    @asynccontextmanager
    async def subscribe(
        self,
        name: str,
        *,
        policy: Policy,
        maxsize: int = _DEFAULT_MAXSIZE,
        spool_dir: Path | None = None,
    ) -> AsyncIterator[Subscription[T]]:
        """Subscribe for the duration of the ``async with`` block."""
        if self._closed:
            raise BusClosedError("the telemetry bus is closed; subscribe before leaving it")
        sub: Subscription[T] = Subscription(
            name,
            policy,
            maxsize,
            spool_dir if spool_dir is not None else self._spool_dir,
            self._clock_ns,
        )
        self._subs = (*self._subs, sub)  # copy-on-write: publish iterates a stable tuple
        try:
            yield sub
        finally:
            self._subs = tuple(s for s in self._subs if s is not sub)
            sub._release()

    def stats(self) -> list[SubscriptionStats]:
        return [s.stats() for s in self._subs]

    def close(self) -> None:
        """Stop accepting items; subscribers drain what they have, then end."""
        self._closed = True
        for sub in self._subs:
            sub._close()


class TelemetryBus(Bus[TelemetrySample]):
    """The bus the vehicle sessions publish `TelemetrySample`s to."""
