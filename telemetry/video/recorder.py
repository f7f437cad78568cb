"""The fleet's video recorder: one `VideoIngest` per vehicle plus periodic retention.

    async with VideoRecorder(sources={"v1": read_sdp(Path("var/video/vehicle-0.sdp"))},
                             blobs=LocalBlobStore(Path("var/video")), index=store) as rec:
        evidence = await rec.cut_evidence("v1", at_us=incident_time_us)
        with rec.watch_preview("v1"):
            frame = rec.preview("v1")

Retention runs every `retention_every_s` (wall) in a task named
`video-retention` when `retention_max_age_s` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Self

from telemetry.video.blobs import BlobStore
from telemetry.video.errors import VideoConfigError
from telemetry.video.index import VideoIndex
from telemetry.video.ingest import EvidenceSet, IngestConfig, VideoIngest
from telemetry.video.preview import PreviewFrame
from telemetry.video.retention import RetentionReport, apply_retention
from telemetry.video.sdp import VideoSource

__all__ = ["VideoRecorder"]

log = logging.getLogger(__name__)


def _wall_us() -> int:
    return time.time_ns() // 1000


class VideoRecorder:
    def __init__(
        self,
        *,
        sources: Mapping[str, VideoSource],
        blobs: BlobStore,
        index: VideoIndex,
        config: IngestConfig | None = None,
        retention_max_age_s: float | None = None,
        retention_every_s: float = 3600.0,
        now_us: Callable[[], int] = _wall_us,
    ) -> None:
        ports = [s.port for s in sources.values()]
        if len(set(ports)) != len(ports):
            raise VideoConfigError("two vehicles share a video port: give each its own")
        if retention_max_age_s is not None and retention_max_age_s <= 0:
            raise VideoConfigError("retention age must be positive (or unset to keep everything)")
        self.blobs = blobs
        self.index = index
        self.retention_max_age_s = retention_max_age_s
        self.retention_every_s = retention_every_s
        self.last_retention: RetentionReport | None = None
        self._now_us = now_us
        self.ingests = {
            vid: VideoIngest(
                vehicle_id=vid, source=src, blobs=blobs, index=index, config=config, now_us=now_us
            )
            for vid, src in sources.items()
        }
        self._stack = contextlib.AsyncExitStack()
        self._tasks: asyncio.TaskGroup | None = None
        self._retention: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            for ingest in self.ingests.values():
                await stack.enter_async_context(ingest)
            self._tasks = asyncio.TaskGroup()
            await self._tasks.__aenter__()
            if self.retention_max_age_s is not None:
                self._retention = self._tasks.create_task(
                    self._retention_loop(), name="video-retention"
                )
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._retention is not None:
            self._retention.cancel()
        if self._tasks is not None:
            await self._tasks.__aexit__(None, None, None)
            self._tasks = None
        await self._stack.aclose()

    def ingest(self, vehicle_id: str) -> VideoIngest:
        try:
            return self.ingests[vehicle_id]
        except KeyError:
            known = ", ".join(sorted(self.ingests)) or "none"
            raise VideoConfigError(
                f"no video stream for vehicle {vehicle_id!r} (recording: {known})"
            ) from None

    async def cut_evidence(
        self,
        vehicle_id: str,
        *,
        at_us: int,
        pre_s: float | None = None,
        post_s: float | None = None,
    ) -> EvidenceSet:
        return await self.ingest(vehicle_id).cut_evidence(at_us=at_us, pre_s=pre_s, post_s=post_s)

    @contextlib.contextmanager
    def watch_preview(self, vehicle_id: str) -> Iterator[None]:
        with self.ingest(vehicle_id).watch_preview():
            yield

    def preview(self, vehicle_id: str) -> PreviewFrame | None:
        return self.ingest(vehicle_id).preview()

    async def apply_retention(self) -> RetentionReport:
        assert self.retention_max_age_s is not None
        report = await apply_retention(
            index=self.index,
            blobs=self.blobs,
            max_age_s=self.retention_max_age_s,
            now_us=self._now_us(),
        )
        self.last_retention = report
        return report

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.apply_retention()
            except Exception as exc:  # store or disk trouble: try again next round
                log.warning(
                    "video retention failed (%s); retrying in %g s", exc, self.retention_every_s
                )
            await asyncio.sleep(self.retention_every_s)
