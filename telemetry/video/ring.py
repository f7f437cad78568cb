"""The last N seconds of access units, starting at a keyframe, for pre-event footage.

Bounded by stream time, not memory: at 640×480/15 fps about 1–2 MB per 10 s.
When full it forgets the oldest GOP (keep newest), so its head is always a
keyframe and any window inside it can be cut without re-encoding.
"""

from __future__ import annotations

from collections import deque

from telemetry.video.depacketize import AccessUnit

__all__ = ["RingBuffer", "select_window"]


def select_window(units: list[AccessUnit], start_us: int, end_us: int) -> list[AccessUnit]:
    """Units from the last keyframe at or before `start_us` (or the first keyframe after
    it) through the first unit at or after `end_us` (or the newest)."""
    begin: int | None = None
    for i, u in enumerate(units):
        if u.keyframe and (u.time_unix_us <= start_us or begin is None):
            begin = i
        if u.time_unix_us > start_us and begin is not None:
            break
    if begin is None:
        return []
    out: list[AccessUnit] = []
    for u in units[begin:]:
        out.append(u)
        if u.time_unix_us >= end_us:
            break
    return out


class RingBuffer:
    def __init__(self, *, span_s: float) -> None:
        self.span_us = int(span_s * 1e6)
        self._units: deque[AccessUnit] = deque()
        self._keys: deque[int] = deque()  # times of keyframes in the buffer

    def __len__(self) -> int:
        return len(self._units)

    @property
    def first_us(self) -> int | None:
        return self._units[0].time_unix_us if self._units else None

    @property
    def last_us(self) -> int | None:
        return self._units[-1].time_unix_us if self._units else None

    def append(self, unit: AccessUnit) -> None:
        if not self._units and not unit.keyframe:
            return  # the head must be a keyframe
        self._units.append(unit)
        if unit.keyframe:
            self._keys.append(unit.time_unix_us)
        horizon = unit.time_unix_us - self.span_us
        # Drop whole GOPs while the next keyframe is still old enough to cover the span.
        while len(self._keys) >= 2 and self._keys[1] <= horizon:
            self._keys.popleft()
            while self._units and self._units[0].time_unix_us < self._keys[0]:
                self._units.popleft()

    def window(self, start_us: int, end_us: int) -> list[AccessUnit]:
        return select_window(list(self._units), start_us, end_us)

    def units(self) -> list[AccessUnit]:
        return list(self._units)
