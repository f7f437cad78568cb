"""The scheduler's clock: the wall clock in service, the simulator's clock in tests.

Schedules are values that never read a clock; the scheduler asks a `Clock`
for "now" and sleeps until a given instant. `ScaledClock` reads any time
source (e.g. the simulator's Unix time) and converts waits to wall time by a
speedup, re-checking after each wait, so a simulator that runs slower than
its nominal speedup never makes the scheduler early.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "ScaledClock", "SystemClock"]

# Upper bound of one wall-clock wait, so time-source jumps are noticed.
_MAX_WALL_WAIT_S = 1.0


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, when: datetime) -> None: ...

    def wall_s(self, clock_s: float) -> float:
        """A duration on this clock expressed in wall seconds."""
        ...


class SystemClock:
    """The UTC wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        while True:  # waiting for time itself to pass: there is no event to await
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 60.0))

    def wall_s(self, clock_s: float) -> float:
        return clock_s


class ScaledClock:
    """Unix seconds from `time_s` (default: wall time × speedup since creation)."""

    def __init__(
        self,
        *,
        speedup: float,
        time_s: Callable[[], float] | None = None,
        start_utc: datetime | None = None,
    ) -> None:
        if not speedup > 0:
            raise ValueError(f"speedup {speedup!r} must be > 0")
        self.speedup = speedup
        if time_s is None:
            base = (start_utc or datetime.now(UTC)).timestamp()
            mono0 = time.monotonic()

            def scaled() -> float:
                return base + (time.monotonic() - mono0) * speedup

            time_s = scaled
        self._time_s = time_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._time_s(), UTC)

    async def sleep_until(self, when: datetime) -> None:
        target = when.timestamp()
        while True:  # re-checked: the time source may run slower than its speedup
            left = target - self._time_s()
            if left <= 0:
                return
            await asyncio.sleep(min(left / self.speedup, _MAX_WALL_WAIT_S) + 1e-4)

    def wall_s(self, clock_s: float) -> float:
        return clock_s / self.speedup
