"""Per-vehicle link statistics from the raw stream: rate, loss, heartbeat age, reboots."""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["LinkCounters", "LinkStats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkStats:
    """A snapshot. `loss_pct` counts MAVLink 2 sequence gaps per sending component."""

    messages: int
    lost: int
    rate_hz: float
    loss_pct: float
    heartbeat_age_s: float | None  # None: no heartbeat yet
    skipped_bytes: int
    crc_errors: int
    signing_rejected: int = 0  # frames dropped: unsigned, bad signature or replayed


class LinkCounters:
    """Updated once per frame (cheap); rate is averaged over the last `window_s`."""

    __slots__ = (
        "_last_seq",
        "_rate_count",
        "_rate_hz",
        "_rate_t0",
        "_window_s",
        "last_heartbeat_mono",
        "lost",
        "messages",
    )

    def __init__(self, *, window_s: float = 1.0) -> None:
        self._last_seq: dict[int, int] = {}
        self._window_s = window_s
        self._rate_t0 = time.monotonic()
        self._rate_count = 0
        self._rate_hz = 0.0
        self.messages = 0
        self.lost = 0
        self.last_heartbeat_mono: float | None = None

    def count(self, sysid: int, compid: int, seq: int) -> None:
        key = (sysid << 8) | compid
        last = self._last_seq.get(key)
        self.messages += 1
        self._rate_count += 1
        if last is None:
            self._last_seq[key] = seq
            return
        ahead = (seq - last) & 0xFF
        if 0 < ahead < 128:
            self.lost += ahead - 1  # the ones skipped are lost until they turn up late
            self._last_seq[key] = seq
        elif ahead >= 128 and self.lost:  # behind: a late (reordered) one, not lost after all
            self.lost -= 1

    def heartbeat(self) -> None:
        self.last_heartbeat_mono = time.monotonic()

    def forget_sequences(self) -> None:
        """After a link outage the next sequence number says nothing about loss."""
        self._last_seq.clear()

    def snapshot(
        self, *, skipped_bytes: int = 0, crc_errors: int = 0, signing_rejected: int = 0
    ) -> LinkStats:
        now = time.monotonic()
        elapsed = now - self._rate_t0
        if elapsed >= self._window_s:
            self._rate_hz = self._rate_count / elapsed
            self._rate_count = 0
            self._rate_t0 = now
        total = self.messages + self.lost
        return LinkStats(
            messages=self.messages,
            lost=self.lost,
            rate_hz=self._rate_hz,
            loss_pct=100.0 * self.lost / total if total else 0.0,
            heartbeat_age_s=(
                None if self.last_heartbeat_mono is None else now - self.last_heartbeat_mono
            ),
            skipped_bytes=skipped_bytes,
            crc_errors=crc_errors,
            signing_rejected=signing_rejected,
        )
