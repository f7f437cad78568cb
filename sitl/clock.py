"""The simulated clock shared by every vehicle of a fleet.

Simulated time advances in fixed steps driven by the fleet's tick loop, never
by reading the wall clock, so a fleet that cannot keep up runs slower than
`speedup` instead of silently skipping physics: the achieved real-time factor
is then an honest measurement (`bench/sim_realtime.py`). Every timestamp the
simulator emits (time_boot_ms, time_usec, SYSTEM_TIME) comes from here.
"""

from __future__ import annotations

import time

__all__ = ["SimClock"]


class SimClock:
    """Simulated seconds since boot, plus the Unix time they correspond to."""

    __slots__ = ("_sim_s", "_unix_at_boot_s", "_wall_at_boot_s", "speedup")

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self._sim_s = 0.0
        self._unix_at_boot_s = time.time()
        self._wall_at_boot_s = time.monotonic()

    def time_s(self) -> float:
        """Simulated seconds since the fleet booted."""
        return self._sim_s

    def time_boot_ms(self) -> int:
        return int(self._sim_s * 1000.0) & 0xFFFFFFFF

    def time_usec(self) -> int:
        """Microseconds since boot, as PX4 stamps time_usec fields."""
        return int(self._sim_s * 1e6)

    def unix_usec(self) -> int:
        """Simulated Unix time: boot wall time plus simulated seconds."""
        return int((self._unix_at_boot_s + self._sim_s) * 1e6)

    def wall_elapsed_s(self) -> float:
        return time.monotonic() - self._wall_at_boot_s

    def real_time_factor(self) -> float:
        """Simulated seconds per wall second since boot (target: `speedup`)."""
        wall = self.wall_elapsed_s()
        return self._sim_s / wall if wall > 0 else 0.0

    def advance(self, dt_s: float) -> None:
        """Step simulated time (only the fleet's tick loop calls this)."""
        self._sim_s += dt_s
