"""Record one vehicle's RTP/H.264 stream: segments, a pre-event ring, evidence, preview.

`async with VideoIngest(...) as ingest:` binds the stream's UDP port and runs
two named tasks in a TaskGroup: the recorder (access units → ring buffer →
MP4 segment files in the blob store, each indexed with its SHA-256) and the
watchdog (no data for `stall_timeout_s` → the stream is LOST: the segment is
closed, and when data returns a gap (start, end) is recorded). UDP has no
connection to re-establish: the socket stays bound and the recorder resumes at
the next keyframe, whichever camera process sends it.

Queue policy: received access units wait in a bounded queue (`queue_units`,
about 20 s at 15 fps). If the recorder falls that far behind, new units are
dropped until the next keyframe and counted (`units_overflowed`); the loss
shows as a stall-free hole, never as a corrupt file.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from telemetry.video.blobs import BlobStore
from telemetry.video.depacketize import AccessUnit, H264Depacketizer
from telemetry.video.errors import (
    BlobError,
    EvidenceUnavailableError,
    VideoConfigError,
    VideoError,
)
from telemetry.video.evidence import VideoEvidence, evidence_key, sha256_bytes, snapshot_jpeg
from telemetry.video.index import VideoIndex
from telemetry.video.mp4 import Mp4Writer, frame_size, read_units, sha256_file, write_clip
from telemetry.video.preview import PreviewDecoder, PreviewFrame
from telemetry.video.ring import RingBuffer, select_window
from telemetry.video.sdp import VideoSource

__all__ = ["EvidenceSet", "IngestConfig", "IngestState", "IngestStats", "VideoIngest"]

log = logging.getLogger(__name__)


def _wall_us() -> int:
    return time.time_ns() // 1000


class IngestState(enum.Enum):
    WAITING = "waiting"  # bound, nothing received yet
    RECEIVING = "receiving"
    LOST = "lost"  # nothing for stall_timeout_s; a gap is open
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestConfig:
    """Recorder settings. Durations in stream seconds unless they say wall."""

    segment_s: float = 10.0
    ring_s: float = 45.0  # must exceed pre_s + post_s + one GOP
    pre_s: float = 20.0
    post_s: float = 20.0
    stall_timeout_wall_s: float = 2.0
    evidence_wait_wall_s: float = 40.0  # longest wait for the post-event footage
    queue_units: int = 300

    def __post_init__(self) -> None:
        if not 1.0 <= self.segment_s <= 3600:
            raise VideoConfigError(f"segment length {self.segment_s} s is out of 1..3600 s")
        if self.pre_s < 0 or self.post_s < 0:
            raise VideoConfigError("evidence pre/post durations must not be negative")
        if self.ring_s < self.pre_s + self.post_s:
            raise VideoConfigError(
                f"ring buffer of {self.ring_s} s cannot hold {self.pre_s} s before and "
                f"{self.post_s} s after an incident: make it at least their sum plus a GOP"
            )
        if self.ring_s < self.segment_s:
            raise VideoConfigError(
                f"ring buffer of {self.ring_s} s is shorter than a segment ({self.segment_s} s): "
                "late evidence would miss the open segment; make the ring longer"
            )
        if not self.stall_timeout_wall_s > 0:
            raise VideoConfigError("stall timeout must be positive")


@dataclass(slots=True)
class IngestStats:
    units_recorded: int = 0
    units_overflowed: int = 0
    segments_written: int = 0
    gaps_recorded: int = 0
    last_unit_us: int | None = None
    index_errors: int = 0
    write_errors: int = 0  # footage not written to a segment (disk full, blob store down)
    evidence_from_segments: int = 0  # clips that reached back past the ring
    last_write_latency_s: float | None = None  # packet arrival → written to the segment file
    write_latencies_s: list[float] = field(default_factory=list)  # the last few hundred
    # capture time (camera clock) → written, on the recorder's clock: meaningful when the
    # two clocks agree (a real-time camera on this machine), e.g. for the benchmark
    capture_latencies_s: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceSet:
    clip: VideoEvidence
    snapshot: VideoEvidence


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, ingest: VideoIngest) -> None:
        self._ingest = ingest

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._ingest._on_datagram(data)


@dataclass(slots=True)
class _OpenSegment:
    writer: Mp4Writer
    key: str


class VideoIngest:
    """Recorder for one vehicle's video stream."""

    def __init__(
        self,
        *,
        vehicle_id: str,
        source: VideoSource,
        blobs: BlobStore,
        index: VideoIndex,
        config: IngestConfig | None = None,
        now_us: Callable[[], int] = _wall_us,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.source = source
        self.blobs = blobs
        self.index = index
        self.config = config or IngestConfig()
        self.state = IngestState.WAITING
        self._now_us = now_us
        self.stats = IngestStats()
        self.depacketizer = H264Depacketizer(
            payload_type=source.payload_type, now_us=now_us, now_mono_s=time.monotonic
        )
        self._ring = RingBuffer(span_s=self.config.ring_s)
        self._queue: asyncio.Queue[AccessUnit] = asyncio.Queue(self.config.queue_units)
        self._overflowing = False
        self._progress = asyncio.Condition()
        self._segment_lock = asyncio.Lock()
        self._segment: _OpenSegment | None = None
        self._size: tuple[int, int] | None = None
        self._ssrc: int | None = None
        self._last_arrival = time.monotonic()
        self._gap_start_us: int | None = None
        self._preview = PreviewDecoder(vehicle_id=vehicle_id)
        self._watchers = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._stop: asyncio.Event | None = None
        self._recorder: asyncio.Task[None] | None = None
        # Index writes that failed (store down): retried before the next one, never dropped.
        self._unindexed: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> VideoIngest:
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: _Receiver(self), local_addr=(self.source.host, self.source.port)
            )
        except OSError as exc:
            raise VideoConfigError(
                f"video port {self.source.host}:{self.source.port} for {self.vehicle_id} "
                f"cannot be opened ({exc.strerror}): is another recorder or player using it?"
            ) from exc
        self._stop = asyncio.Event()
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._recorder = self._tasks.create_task(
            self._record(), name=f"video-{self.vehicle_id}-record"
        )
        self._tasks.create_task(self._watchdog(), name=f"video-{self.vehicle_id}-watchdog")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()  # nothing new arrives; what did is recorded first
        if self._recorder is not None:
            if not self._recorder.done():
                await self._queue.join()
            self._recorder.cancel()
        if self._stop is not None:
            self._stop.set()
        if self._tasks is not None:
            await self._tasks.__aexit__(None, None, None)
        self._tasks = None
        async with self._segment_lock:
            await self._finish_segment()
        if self._unindexed:
            log.error(
                "video %s: %d record(s) stored in %s but never accepted by the index",
                self.vehicle_id,
                len(self._unindexed),
                type(self.blobs).__name__,
            )
        self.state = IngestState.CLOSED
        async with self._progress:
            self._progress.notify_all()

    # ------------------------------------------------------------ receiving
    def _on_datagram(self, data: bytes) -> None:
        for unit in self.depacketizer.feed(data):
            if self._overflowing and not unit.keyframe:
                self.stats.units_overflowed += 1
                continue
            try:
                self._queue.put_nowait(unit)
                self._overflowing = False
            except asyncio.QueueFull:
                self._overflowing = True
                self.stats.units_overflowed += 1

    async def _record(self) -> None:
        while True:
            unit = await self._queue.get()
            try:
                await self._take(unit)
            finally:
                self._queue.task_done()

    async def _take(self, unit: AccessUnit) -> None:
        self._last_arrival = time.monotonic()
        if self._gap_start_us is not None:
            start, self._gap_start_us = self._gap_start_us, None
            end = unit.time_unix_us
            await self._index(
                "gap",
                lambda: self.index.add_video_gap(
                    vehicle_id=self.vehicle_id, start_us=start, end_us=end
                ),
            )
            self.stats.gaps_recorded += 1
            log.info("video %s: stream back after a gap", self.vehicle_id)
        self.state = IngestState.RECEIVING
        if unit.ssrc != self._ssrc and unit.keyframe:
            self._ssrc = unit.ssrc
            self._size = await asyncio.to_thread(frame_size, unit)
            async with self._segment_lock:
                await self._finish_segment()
        self._ring.append(unit)
        async with self._segment_lock:
            try:
                await self._write_segment(unit)
            except (OSError, BlobError) as exc:  # disk full or gone: keep receiving
                await self._drop_segment(exc)
        if self._watchers:
            await asyncio.to_thread(self._preview.feed, unit)
        self.stats.units_recorded += 1
        self.stats.last_unit_us = unit.time_unix_us
        async with self._progress:
            self._progress.notify_all()

    async def _write_segment(self, unit: AccessUnit) -> None:
        seg = self._segment
        first = seg.writer.first_us if seg is not None else None
        long_enough = first is not None and unit.time_unix_us - first >= self.config.segment_s * 1e6
        if unit.keyframe and long_enough:
            await self._finish_segment()
            seg = None
        if seg is None:
            if not unit.keyframe or self._size is None:
                return
            seg = self._segment = await asyncio.to_thread(self._open_segment, unit)
        seg.writer.write(unit)
        latency = time.monotonic() - unit.arrival_mono_s
        self.stats.last_write_latency_s = latency
        self.stats.write_latencies_s.append(latency)
        self.stats.capture_latencies_s.append((self._now_us() - unit.time_unix_us) / 1e6)
        for values in (self.stats.write_latencies_s, self.stats.capture_latencies_s):
            if len(values) > 512:
                del values[:256]

    def _open_segment(self, unit: AccessUnit) -> _OpenSegment:
        assert self._size is not None
        t = datetime.fromtimestamp(unit.time_unix_us / 1e6, UTC)
        stamp = f"{t:%Y%m%dT%H%M%S}.{t.microsecond // 1000:03d}Z"
        key = f"segments/{self.vehicle_id}/{t:%Y%m%d}/{self.vehicle_id}-{stamp}.mp4"
        path = self.blobs.staging_dir() / f"{uuid.uuid4().hex}.mp4"
        writer = Mp4Writer(
            path,
            width=self._size[0],
            height=self._size[1],
            live=True,
            metadata={"title": f"{self.vehicle_id} {stamp}"},
        )
        return _OpenSegment(writer=writer, key=key)

    async def _drop_segment(self, exc: Exception) -> None:
        """Abandon the open segment after a write error; the ring keeps the live footage
        and the next keyframe tries a new segment."""
        seg, self._segment = self._segment, None
        self.stats.write_errors += 1
        if self.stats.write_errors == 1 or self.stats.write_errors % 100 == 0:
            log.error("video %s: cannot write footage (%s); ring buffer only", self.vehicle_id, exc)
        if seg is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(seg.writer.close)
            with contextlib.suppress(OSError):
                await asyncio.to_thread(seg.writer.path.unlink, True)

    async def _finish_segment(self) -> None:
        """Close the open segment, hash it, hand it to the blob store and index it."""
        seg, self._segment = self._segment, None
        if seg is None:
            return
        w = seg.writer
        await asyncio.to_thread(w.close)
        if w.first_us is None or w.last_us is None:
            await asyncio.to_thread(w.path.unlink, True)
            return
        digest = await asyncio.to_thread(sha256_file, w.path)
        size = await self.blobs.put_file(seg.key, w.path)
        first_us, last_us = w.first_us, w.last_us
        await self._index(
            "segment",
            lambda: self.index.add_video_segment(
                vehicle_id=self.vehicle_id,
                start_us=first_us,
                end_us=last_us,
                path=seg.key,
                sha256=digest,
                size_bytes=size,
            ),
        )
        self.stats.segments_written += 1

    async def _index(self, kind: str, write: Callable[[], Awaitable[object]]) -> None:
        """Tell the index; if it fails, keep the record and retry before the next one."""
        self._unindexed.append((kind, write))
        while self._unindexed:
            kind, write = self._unindexed[0]
            try:
                await write()
            except Exception as exc:  # the store is down or busy: keep the record
                self.stats.index_errors += 1
                log.warning(
                    "video %s: cannot index %s yet (%s); %d record(s) waiting",
                    self.vehicle_id,
                    kind,
                    exc,
                    len(self._unindexed),
                )
                return
            self._unindexed.pop(0)

    @property
    def unindexed(self) -> int:
        """Records (segments, gaps) stored but not yet accepted by the index."""
        return len(self._unindexed)

    async def _watchdog(self) -> None:
        assert self._stop is not None
        period = self.config.stall_timeout_wall_s / 4
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._stop.wait()
            stalled = time.monotonic() - self._last_arrival > self.config.stall_timeout_wall_s
            if self.state is IngestState.RECEIVING and stalled:
                self.state = IngestState.LOST
                self._gap_start_us = self.stats.last_unit_us
                log.warning("video %s: no data for %.1f s", self.vehicle_id, period * 4)
                async with self._segment_lock:
                    await self._finish_segment()
                async with self._progress:
                    self._progress.notify_all()

    # ------------------------------------------------------------ evidence
    async def wait_until(self, time_us: int, *, timeout_wall_s: float) -> bool:
        """Wait until footage up to `time_us` is in; False if the stream is lost or time ran out."""

        def reached() -> bool:
            last = self._ring.last_us
            lost = self.state in (IngestState.LOST, IngestState.CLOSED)
            return (last is not None and last >= time_us) or lost

        try:
            async with asyncio.timeout(timeout_wall_s), self._progress:
                await self._progress.wait_for(reached)
        except TimeoutError:
            return False
        last = self._ring.last_us
        return last is not None and last >= time_us

    async def wait_for(self, predicate: Callable[[], bool], *, timeout_wall_s: float) -> None:
        """Wait until `predicate()` holds, re-checked after every unit and state change."""
        async with asyncio.timeout(timeout_wall_s), self._progress:
            await self._progress.wait_for(predicate)

    async def cut_evidence(
        self, *, at_us: int, pre_s: float | None = None, post_s: float | None = None
    ) -> EvidenceSet:
        """A clip from T−pre to T+post and a JPEG at T, hashed and stored as blobs.

        Waits (up to `evidence_wait_wall_s`) for the footage after T to arrive.
        """
        pre = self.config.pre_s if pre_s is None else pre_s
        post = self.config.post_s if post_s is None else post_s
        start_us, end_us = at_us - int(pre * 1e6), at_us + int(post * 1e6)
        await self.wait_until(end_us, timeout_wall_s=self.config.evidence_wait_wall_s)
        ring = self._ring.units()
        if not ring or ring[0].time_unix_us > start_us:
            # Asked late: the start is older than the ring; the segments still have it.
            stored = await self._stored_units(
                start_us, end_us, before_us=ring[0].time_unix_us if ring else None
            )
            ring = stored + ring
            self.stats.evidence_from_segments += bool(stored)
        units = select_window(ring, start_us, end_us)
        if not units:
            raise EvidenceUnavailableError(
                f"no video from {self.vehicle_id} around {_iso(at_us)}: the stream was not "
                "received; check the camera and its video port"
            )
        meta = {
            "title": f"{self.vehicle_id} evidence at {_iso(at_us)}",
            "comment": f"drone-ops clip {_iso(start_us)} to {_iso(end_us)}",
        }
        clip_key = evidence_key("clip", self.vehicle_id, at_us, "mp4")
        clip_path = self.blobs.staging_dir() / f"{uuid.uuid4().hex}.mp4"
        try:
            clip_hash = await asyncio.to_thread(write_clip, clip_path, units, metadata=meta)
            jpeg, shot_us = await asyncio.to_thread(snapshot_jpeg, units, at_us)
        except VideoError:
            raise
        except Exception as exc:  # PyAV errors: the footage is damaged
            raise EvidenceUnavailableError(
                f"video from {self.vehicle_id} around {_iso(at_us)} cannot be cut ({exc})"
            ) from exc
        clip_size = await self.blobs.put_file(clip_key, clip_path)
        shot_key = evidence_key("snapshot", self.vehicle_id, at_us, "jpg")
        shot_size = await self.blobs.put_bytes(shot_key, jpeg)
        clip = VideoEvidence(
            kind="clip",
            path=clip_key,
            uri=self.blobs.uri(clip_key),
            sha256=clip_hash,
            size_bytes=clip_size,
            start_us=units[0].time_unix_us,
            end_us=units[-1].time_unix_us,
            vehicle_id=self.vehicle_id,
            at_us=at_us,
            requested_start_us=start_us,
            requested_end_us=end_us,
        )
        snapshot = VideoEvidence(
            kind="snapshot",
            path=shot_key,
            uri=self.blobs.uri(shot_key),
            sha256=sha256_bytes(jpeg),
            size_bytes=shot_size,
            start_us=shot_us,
            end_us=shot_us,
            vehicle_id=self.vehicle_id,
            at_us=at_us,
            requested_start_us=start_us,
            requested_end_us=end_us,
        )
        return EvidenceSet(clip=clip, snapshot=snapshot)

    async def _stored_units(
        self, start_us: int, end_us: int, *, before_us: int | None
    ) -> list[AccessUnit]:
        """Units of the indexed segments overlapping [start, end] (older than `before_us`)."""
        rows = await self.index.segments_between(self.vehicle_id, start_us, end_us)
        units: list[AccessUnit] = []
        for row in rows:
            local = self.blobs.staging_dir() / f"{uuid.uuid4().hex}-read.mp4"
            try:
                await self.blobs.fetch(row.path, local)
                units += await asyncio.to_thread(read_units, local, start_us=row.start_us)
            finally:
                await asyncio.to_thread(local.unlink, True)
        if before_us is not None:
            units = [u for u in units if u.time_unix_us < before_us]
        return units

    # ------------------------------------------------------------ preview
    @contextlib.contextmanager
    def watch_preview(self) -> Iterator[None]:
        """While inside, the recorder decodes the stream for `preview()`."""
        self._watchers += 1
        try:
            yield
        finally:
            self._watchers -= 1
            if not self._watchers:
                self._preview.reset()

    def preview(self) -> PreviewFrame | None:
        """The latest decoded picture (160×120 RGB) while someone watches, else None."""
        return self._preview.latest if self._watchers else None

    @property
    def preview_frames_decoded(self) -> int:
        return self._preview.frames_decoded


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="milliseconds")
