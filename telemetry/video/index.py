"""What the recorder tells the incident store, and asks it (a Protocol the store implements).

Times are Unix microseconds (UTC) like everywhere in the store; `path` is the
blob key. `MemoryVideoIndex` keeps the same records in memory for runs without
a store and for tests of the recorder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["MemoryVideoIndex", "SegmentRow", "VideoGap", "VideoIndex", "VideoSegmentRecord"]


class SegmentRow(Protocol):
    """A stored segment as the store returns it (its `VideoSegment` record fits)."""

    @property
    def segment_id(self) -> int: ...
    @property
    def vehicle_id(self) -> str: ...
    @property
    def start_us(self) -> int: ...
    @property
    def end_us(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoSegmentRecord:
    segment_id: int
    vehicle_id: str
    start_us: int
    end_us: int
    path: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoGap:
    """No usable video from `vehicle_id` between start and end (stream lost or damaged)."""

    vehicle_id: str
    start_us: int
    end_us: int


@runtime_checkable
class VideoIndex(Protocol):
    async def add_video_segment(
        self,
        *,
        vehicle_id: str,
        start_us: int,
        end_us: int,
        path: str,
        sha256: str,
        size_bytes: int,
    ) -> int:
        """Record one finished segment; returns its id."""
        ...

    async def add_video_gap(self, *, vehicle_id: str, start_us: int, end_us: int) -> None: ...

    async def segments_between(
        self, vehicle_id: str, t0_us: int, t1_us: int
    ) -> Sequence[SegmentRow]:
        """Segments of a vehicle overlapping [t0, t1], in time order (late evidence)."""
        ...

    async def video_segments_ended_before(self, end_before_us: int) -> Sequence[SegmentRow]:
        """Segments of every vehicle whose end is before `end_before_us` (retention)."""
        ...

    async def referenced_video_paths(self) -> set[str]:
        """Blob keys an incident references (its evidence, or segments covering it)."""
        ...

    async def remove_video_segment(self, segment_id: int) -> None: ...


class MemoryVideoIndex:
    """The index in memory; `reference()` stands for an incident pointing at footage."""

    def __init__(self) -> None:
        self.segments: dict[int, VideoSegmentRecord] = {}
        self.gaps: list[VideoGap] = []
        self.referenced: set[str] = set()
        self._next_id = 1

    async def add_video_segment(
        self,
        *,
        vehicle_id: str,
        start_us: int,
        end_us: int,
        path: str,
        sha256: str,
        size_bytes: int,
    ) -> int:
        seg_id, self._next_id = self._next_id, self._next_id + 1
        self.segments[seg_id] = VideoSegmentRecord(
            segment_id=seg_id,
            vehicle_id=vehicle_id,
            start_us=start_us,
            end_us=end_us,
            path=path,
            sha256=sha256,
            size_bytes=size_bytes,
        )
        return seg_id

    async def add_video_gap(self, *, vehicle_id: str, start_us: int, end_us: int) -> None:
        self.gaps.append(VideoGap(vehicle_id=vehicle_id, start_us=start_us, end_us=end_us))

    async def segments_between(
        self, vehicle_id: str, t0_us: int, t1_us: int
    ) -> Sequence[SegmentRow]:
        return [
            s for s in self.segments_of(vehicle_id) if s.start_us <= t1_us and s.end_us >= t0_us
        ]

    async def video_segments_ended_before(self, end_before_us: int) -> Sequence[SegmentRow]:
        return sorted(
            (s for s in self.segments.values() if s.end_us < end_before_us),
            key=lambda s: s.start_us,
        )

    async def referenced_video_paths(self) -> set[str]:
        return set(self.referenced)

    async def remove_video_segment(self, segment_id: int) -> None:
        self.segments.pop(segment_id, None)

    def reference(self, paths: Iterable[str]) -> None:
        self.referenced.update(paths)

    def segments_of(self, vehicle_id: str) -> list[VideoSegmentRecord]:
        return sorted(
            (s for s in self.segments.values() if s.vehicle_id == vehicle_id),
            key=lambda s: s.start_us,
        )
