"""Retention: remove recorded segments older than a configured age, except footage an
incident references (the index says which)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telemetry.video.blobs import BlobStore
from telemetry.video.index import VideoIndex

__all__ = ["RetentionReport", "apply_retention"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionReport:
    removed: tuple[str, ...]
    kept_referenced: tuple[str, ...]
    bytes_freed: int


async def apply_retention(
    *, index: VideoIndex, blobs: BlobStore, max_age_s: float, now_us: int
) -> RetentionReport:
    """Delete segments that ended more than `max_age_s` before `now_us` and no incident uses."""
    old = await index.video_segments_ended_before(now_us - int(max_age_s * 1e6))
    if not old:
        return RetentionReport(removed=(), kept_referenced=(), bytes_freed=0)
    referenced = await index.referenced_video_paths()
    removed: list[str] = []
    kept: list[str] = []
    freed = 0
    for seg in old:
        if seg.path in referenced:
            kept.append(seg.path)
            continue
        # Index row first: a crash in between leaves an orphan file (swept later),
        # never an index row that promises footage which is gone.
        await index.remove_video_segment(seg.segment_id)
        await blobs.delete(seg.path)
        removed.append(seg.path)
        freed += seg.size_bytes
    if removed:
        log.info("video retention: removed %d segments (%d bytes)", len(removed), freed)
    return RetentionReport(removed=tuple(removed), kept_referenced=tuple(kept), bytes_freed=freed)
