"""Reconnect policy: exponential backoff with jitter, in one small place.

Jitter spreads reconnect attempts so that a fleet of controllers does not hit
a restarted broker in lock-step.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from telemetry.errors import TelemetryError

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Delays ``initial_s · multiplier^n`` capped at ``max_s``, each shortened by a
    random fraction up to ``jitter`` (0 = no jitter, 1 = anywhere from 0 to the delay)."""

    initial_s: float = 0.1
    max_s: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise TelemetryError("backoff needs 0 < initial_s <= max_s, e.g. 0.1 and 10")
        if self.multiplier < 1:
            raise TelemetryError("backoff multiplier must be at least 1, e.g. 2")
        if not 0 <= self.jitter <= 1:
            raise TelemetryError("backoff jitter must be between 0 and 1, e.g. 0.5")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """An endless sequence of delays in seconds; start a new one after a success."""
        rand = rng if rng is not None else random.Random()
        base = self.initial_s
        while True:
            yield base * (1.0 - self.jitter * rand.random())
            base = min(self.max_s, base * self.multiplier)
