"""Values the store hands out: frozen, keyword-only, units in the names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

__all__ = [
    "SortieOutcome",
    "SortieRecord",
    "VideoGapRecord",
    "VideoSegment",
    "iso_from_us",
    "now_us",
]


def now_us() -> int:
    """The controller's UTC clock in integer microseconds (the store's time unit)."""
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def iso_from_us(time_unix_us: int) -> str:
    return datetime.fromtimestamp(time_unix_us / 1_000_000, UTC).isoformat()


class SortieOutcome(StrEnum):
    COMPLETED = "completed"
    ABORTED = "aborted"  # an operator or the runner stopped it
    FAILSAFE = "failsafe"  # the vehicle took over (RTL/LAND on its own)
    LINK_LOST = "link_lost"
    REFUSED = "refused"  # validation or the vehicle refused the plan/arming
    CRASHED = "crashed"
    ERROR = "error"  # the controller failed


@dataclass(frozen=True, slots=True, kw_only=True)
class SortieRecord:
    sortie_id: int
    vehicle_id: str
    plan_name: str
    plan_json: str
    started_us: int
    ended_us: int | None
    outcome: SortieOutcome | None
    tlog_path: str | None
    controller: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoSegment:
    segment_id: int
    vehicle_id: str
    start_us: int
    end_us: int
    path: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoGapRecord:
    """No usable video from `vehicle_id` between start and end (camera clock)."""

    gap_id: int
    vehicle_id: str
    start_us: int
    end_us: int
