"""StoreWriter: the store's telemetry sink. It batches and never drops a sample.

It consumes batches (lists of `TelemetrySample`) from any async iterable — the
telemetry bus's lossless subscription is one — merges whatever has queued up
while a write was in flight into the next write, and on a transient failure
(database locked or unreachable) keeps the batch and retries with backoff. The
source's own bounded queue (which spills to disk) is where back-pressure lands.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass

from drone_ops.store.errors import StoreLockedError, StoreUnreachableError
from drone_ops.store.store import Store
from telemetry.bus import Subscription
from telemetry.errors import BusClosedError
from telemetry.sample import TelemetrySample

__all__ = ["StoreWriter", "WriterStats"]

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class WriterStats:
    """What the writer has done, for status displays and metrics."""

    samples_written: int = 0
    batches_written: int = 0
    retries: int = 0
    pending_samples: int = 0
    last_error: str | None = None


class StoreWriter:
    """Write every batch from `source` into `store`; `run()` returns when the source ends."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch_samples: int = 5000,
        retry_initial_s: float = 0.05,
        retry_max_s: float = 5.0,
    ) -> None:
        if max_batch_samples < 1:
            raise ValueError("max_batch_samples must be >= 1")
        self._store = store
        self._max_batch = max_batch_samples
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self.stats = WriterStats()
        self.stalled = asyncio.Event()  # set while a write is failing and being retried

    async def write(self, batch: Sequence[TelemetrySample]) -> None:
        """Write one batch, retrying transient failures until it is stored."""
        delay = self._retry_initial_s
        self.stats.pending_samples += len(batch)
        while True:
            try:
                await self._store.write_samples(batch)
            except (StoreLockedError, StoreUnreachableError) as exc:
                self.stats.retries += 1
                self.stats.last_error = str(exc)
                self.stalled.set()
                log.warning("store write failed, will retry in %.2f s: %s", delay, exc)
                await asyncio.sleep(delay * (0.5 + random.random()))  # jittered backoff
                delay = min(delay * 2, self._retry_max_s)
                continue
            self.stats.pending_samples -= len(batch)
            self.stats.samples_written += len(batch)
            self.stats.batches_written += 1
            self.stats.last_error = None
            self.stalled.clear()
            return

    async def run(self, source: AsyncIterable[Sequence[TelemetrySample]]) -> WriterStats:
        """Drain `source`, coalescing batches up to `max_batch_samples` per transaction."""
        pending: list[TelemetrySample] = []
        async for batch in source:
            pending.extend(batch)
            while len(pending) >= self._max_batch:
                chunk, pending = pending[: self._max_batch], pending[self._max_batch :]
                await self.write(chunk)
            if pending:
                await self.write(pending)
                pending = []
        if pending:
            await self.write(pending)
        return self.stats

    async def run_subscription(self, subscription: Subscription[TelemetrySample]) -> WriterStats:
        """Drain a (LOSSLESS) telemetry bus subscription until the bus closes."""
        while True:
            try:
                batch = await subscription.get_batch(self._max_batch)
            except BusClosedError:
                return self.stats
            await self.write(batch)
