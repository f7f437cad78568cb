"""Telemetry streams: PX4's per-link default rates, and how they scale.

Rates are wall-clock rates. A client sees PX4's message rates per wall
second whatever `--speedup` is (each message simply covers more simulated
time), so a 50x fleet does not flood it with 50x the traffic, and HEARTBEAT
stays at 1 Hz wall, which keeps MAVSDK's connection timeout happy. Because
one wall second can hold many simulated seconds, a vehicle also sends an
extra HEARTBEAT the moment its mode or arming state changes (the only
deviation from PX4's 1 Hz), so no mode goes unseen at high speed-up.

The fleet has a telemetry budget (`SimConfig.stream_budget_msg_s`, messages
per wall second for the whole fleet). When N vehicles at PX4's rates would
exceed it, every stream faster than 1 Hz is slowed by one common factor (never
below 1 Hz); 1 Hz-and-slower streams (HEARTBEAT, SYS_STATUS on the GCS link,
MISSION_CURRENT, HOME_POSITION, BATTERY_STATUS...) keep PX4's rate. One
vehicle always gets PX4's rates. Rates are also capped at the tick rate
(50 Hz): two samples of the same physics step carry nothing new. A rate set
with SET_MESSAGE_INTERVAL is applied as asked (up to the tick rate).

Scheduling is a timing wheel over ticks, so the cost is proportional to the
messages actually sent, not to the number of streams.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sitl.codec import mavlink as m
from sitl.link import LinkKind
from sitl.telemetry import BUILDERS

if TYPE_CHECKING:
    from sitl.link import SimLink

__all__ = ["DEFAULT_RATES_HZ", "TICK_HZ", "StreamScheduler", "scale_factor"]

TICK_HZ = 50
_WHEEL = 1024  # ticks: the slowest stream is one per ~20 s

# msgid -> (GCS link Hz, API link Hz), from PX4 v1.16 SITL (PX4-REFERENCE.md).
DEFAULT_RATES_HZ: dict[int, tuple[float, float]] = {
    m.MAVLINK_MSG_ID_HEARTBEAT: (1.0, 1.0),
    m.MAVLINK_MSG_ID_ATTITUDE: (50.0, 100.0),
    m.MAVLINK_MSG_ID_ATTITUDE_QUATERNION: (50.0, 50.0),
    m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: (50.0, 50.0),
    m.MAVLINK_MSG_ID_LOCAL_POSITION_NED: (50.0, 30.0),
    m.MAVLINK_MSG_ID_VFR_HUD: (4.0, 10.0),
    m.MAVLINK_MSG_ID_ALTITUDE: (1.0, 10.0),
    m.MAVLINK_MSG_ID_GPS_RAW_INT: (5.0, 8.0),
    m.MAVLINK_MSG_ID_SYS_STATUS: (1.0, 5.0),
    m.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: (1.0, 5.0),
    m.MAVLINK_MSG_ID_POSITION_TARGET_GLOBAL_INT: (1.0, 10.0),
    m.MAVLINK_MSG_ID_MISSION_CURRENT: (1.0, 1.0),
    m.MAVLINK_MSG_ID_SYSTEM_TIME: (0.0, 1.0),
    m.MAVLINK_MSG_ID_SCALED_PRESSURE: (1.0, 1.0),
    m.MAVLINK_MSG_ID_ESTIMATOR_STATUS: (0.5, 1.0),
    m.MAVLINK_MSG_ID_BATTERY_STATUS: (0.5, 0.5),
    m.MAVLINK_MSG_ID_HOME_POSITION: (0.5, 0.5),
    m.MAVLINK_MSG_ID_VIBRATION: (0.1, 0.5),
    436: (0.5, 0.5),  # CURRENT_MODE (not in pymavlink's common dialect)
}


def default_rate(kind: LinkKind, msgid: int) -> float:
    gcs, api = DEFAULT_RATES_HZ.get(msgid, (0.0, 0.0))
    return gcs if kind is LinkKind.GCS else api


def scale_factor(vehicle_count: int, budget_msg_s: float) -> float:
    """The common factor for >1 Hz streams that keeps the fleet in budget."""
    low = high = 0.0
    for gcs, api in DEFAULT_RATES_HZ.values():
        for rate in (gcs, api):
            rate = min(rate, TICK_HZ)
            if rate <= 1.0:
                low += rate
            else:
                high += rate
    room = budget_msg_s / vehicle_count - low
    if room >= high:
        return 1.0
    return max(room / high, 0.0)


@dataclass(slots=True)
class _Entry:
    link: SimLink
    msgid: int
    period_ticks: int
    generation: int
    build: Callable[[Any, SimLink, bool], bytes | None]


class StreamScheduler:
    """Timing wheel of (link, message) streams for a whole fleet."""

    def __init__(self, *, factor: float, seed: int) -> None:
        self.factor = factor
        self._wheel: list[list[_Entry]] = [[] for _ in range(_WHEEL)]
        self._tick = 0
        self._rng = random.Random(seed)
        # (id(link), msgid) -> (generation, rate_hz)
        self._state: dict[tuple[int, int], tuple[int, float]] = {}
        self.sent = 0

    def effective_default(self, kind: LinkKind, msgid: int) -> float:
        rate = min(default_rate(kind, msgid), TICK_HZ)
        if rate > 1.0:
            rate = max(1.0, rate * self.factor)
        return rate

    def add_link(self, link: SimLink) -> None:
        for msgid in DEFAULT_RATES_HZ:
            self.set_rate(link, msgid, self.effective_default(link.kind, msgid))

    def rate(self, link: SimLink, msgid: int) -> float:
        return self._state.get((id(link), msgid), (0, 0.0))[1]

    def set_rate(self, link: SimLink, msgid: int, rate_hz: float) -> None:
        """Start, change or (rate 0) stop one stream on one link."""
        key = (id(link), msgid)
        generation = self._state.get(key, (0, 0.0))[0] + 1
        rate_hz = min(max(rate_hz, 0.0), float(TICK_HZ))
        self._state[key] = (generation, rate_hz)
        if rate_hz <= 0.0:
            return
        period = max(1, min(_WHEEL - 1, round(TICK_HZ / rate_hz)))
        offset = self._rng.randrange(period)  # spread streams over ticks
        slot = (self._tick + 1 + offset) % _WHEEL
        build = BUILDERS.get(msgid)
        if build is not None:
            self._wheel[slot].append(_Entry(link, msgid, period, generation, build))

    def run_tick(self) -> None:
        """Send every stream due this tick (frames are queued on their link)."""
        self._tick += 1
        slot = self._tick % _WHEEL
        due = self._wheel[slot]
        if not due:
            return
        self._wheel[slot] = []
        state = self._state
        wheel = self._wheel
        tick = self._tick
        sent = 0
        for entry in due:
            link = entry.link
            if state.get((id(link), entry.msgid), (0, 0.0))[0] != entry.generation:
                continue  # rate changed or link closed: a newer entry exists
            frame = entry.build(link.owner, link, True)
            if frame is not None:
                link.queue(frame)
                sent += 1
            wheel[(tick + entry.period_ticks) % _WHEEL].append(entry)
        self.sent += sent

    def remove_link(self, link: SimLink) -> None:
        for key in [k for k in self._state if k[0] == id(link)]:
            del self._state[key]
