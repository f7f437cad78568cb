"""Link state as an explicit enum, and the policy that says when it changes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["LinkState", "ReconnectPolicy"]


class LinkState(StrEnum):
    CONNECTING = "connecting"  # transport open, no heartbeat from the vehicle yet
    CONNECTED = "connected"  # heartbeats arriving
    LOST = "lost"  # heartbeats stopped for longer than the heartbeat-loss time
    CLOSED = "closed"  # the session ended


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """Jittered exponential backoff for reopening a transport that failed (serial unplugged).

    A silent UDP link needs no reopening: the socket stays bound and the state
    machine returns to CONNECTED with the next heartbeat.
    """

    initial_s: float = 0.5
    max_s: float = 10.0
    factor: float = 2.0
    jitter: float = 0.2

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** max(0, attempt))
        r = (rng or random).uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return base * r
