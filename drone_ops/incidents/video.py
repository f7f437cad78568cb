"""Video evidence for incidents: the footage around an incident, cut, hashed and audited.

When an incident names a vehicle whose camera the `VideoRecorder` is recording,
a clip from T−pre to T+post and a JPEG snapshot at T are cut once T+post has
been received (in a background task, so whoever raised the incident is not
held up), copied into the store's evidence directory and registered with
their SHA-256 as `video` and `snapshot` evidence, each with its `evidence.add`
audit entry. `audit verify` re-hashes them and `incidents export` bundles
them like any other evidence. Footage that cannot be cut (no stream, the
stream lost) is said in an audited note on the incident, never silently.

    async with (
        VideoRecorder(sources=..., blobs=..., index=store) as recorder,
        VideoEvidenceCapture(store, recorder) as capture,
    ):
        book = VideoIncidents(store, capture)  # a drop-in `Incidents`
        await book.mark(vehicle_id="v1", note="person on the roof", actor="operator")

Incidents raised elsewhere — the CLI's `drone-ops incidents mark` in another
process, another controller on the shared store, code using a plain
`Incidents` — are found by a sweep (every `sweep_every_s`) and get their
video too, as long as this process records that vehicle.

Clocks: incidents are stamped on the controller's UTC clock, video on the
camera's. They are the same clock for real cameras (both UTC); a simulator
running faster than real time has its own, so give `camera_time=
scaled_camera_time(fleet_clock.unix_usec, speedup)` there.

Leaving the context waits for pending captures (each ends when its footage
has arrived, or the stream is lost, or the recorder's evidence wait runs out),
so leave it before the recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import posixpath
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from drone_ops.errors import DroneOpsError
from drone_ops.incidents.book import Incidents
from drone_ops.incidents.evidence import EvidenceLocker, sha256_file
from drone_ops.incidents.model import (
    EvidenceKind,
    EvidenceRecord,
    Incident,
    IncidentDraft,
    IncidentError,
)
from drone_ops.roles import Principal
from drone_ops.store import Store
from telemetry.errors import TelemetryError
from telemetry.video import (
    IngestConfig,
    LocalBlobStore,
    VideoEvidence,
    VideoRecorder,
    VideoSource,
    read_sdp,
)

__all__ = [
    "CameraTime",
    "VideoCapture",
    "VideoEvidenceCapture",
    "VideoEvidenceConfig",
    "VideoIncidents",
    "px4_video_sources",
    "same_clock",
    "scaled_camera_time",
    "sdp_video_sources",
    "video_evidence",
]

log = logging.getLogger(__name__)

CameraTime = Callable[[int], int]
"""Maps a controller UTC time (µs) to the same instant on the camera's clock (µs)."""


def same_clock(time_unix_us: int) -> int:
    """Cameras stamping UTC (real payloads, or timed by arrival): no conversion."""
    return time_unix_us


def _wall_us() -> int:
    return time.time_ns() // 1000


def scaled_camera_time(
    camera_now_us: Callable[[], int],
    speedup: float,
    *,
    controller_now_us: Callable[[], int] = _wall_us,
) -> CameraTime:
    """For a simulated camera whose clock runs `speedup` times faster than the wall:
    an instant `d` wall seconds ago is `d × speedup` camera seconds before the camera's now."""
    if not (math.isfinite(speedup) and speedup > 0):
        raise IncidentError(f"camera clock speedup {speedup!r} must be a positive number")

    def convert(time_unix_us: int) -> int:
        return camera_now_us() - round((controller_now_us() - time_unix_us) * speedup)

    return convert


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoEvidenceConfig:
    """How much footage an incident gets (camera seconds) and who files it."""

    pre_s: float = 20.0
    post_s: float = 20.0
    actor: str = "video"
    max_concurrent_cuts: int = 2  # cutting and JPEG encoding cost CPU; waiting does not
    # Look for incidents raised elsewhere (the CLI's `incidents mark`, another process on
    # the shared store, a plain `Incidents`) every this many wall seconds; None: don't.
    sweep_every_s: float | None = 5.0
    sweep_lookback_s: float = 0.0  # also incidents this long before the start (a restart)

    def __post_init__(self) -> None:
        for name, value in (("pre_s", self.pre_s), ("post_s", self.post_s)):
            if not (math.isfinite(value) and 0 <= value <= 600):
                raise IncidentError(f"video evidence {name} of {value!r} s is out of 0..600 s")
        if not self.actor.strip():
            raise IncidentError("video evidence needs an actor name for the audit chain")
        if self.max_concurrent_cuts < 1:
            raise IncidentError("max_concurrent_cuts must be at least 1")
        if self.sweep_every_s is not None and not (
            math.isfinite(self.sweep_every_s) and self.sweep_every_s > 0
        ):
            raise IncidentError("sweep_every_s must be a positive number of seconds, or None")
        if not (math.isfinite(self.sweep_lookback_s) and self.sweep_lookback_s >= 0):
            raise IncidentError("sweep_lookback_s must be zero or more seconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoCapture:
    """What one incident got: its clip and snapshot evidence, or why it got none."""

    incident_id: int
    vehicle_id: str
    at_camera_us: int | None = None  # the incident time on the camera's clock
    clip: EvidenceRecord | None = None
    snapshot: EvidenceRecord | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_NO_VIDEO = "no video evidence from"  # how a note about missing footage starts
_KEEP_RESULTS = 1000  # finished captures remembered for `wait` (oldest forgotten first)
_MEDIA = {"clip": "video/mp4", "snapshot": "image/jpeg"}
_KIND = {"clip": EvidenceKind.VIDEO, "snapshot": EvidenceKind.SNAPSHOT}


class VideoEvidenceCapture:
    """Cuts and files video evidence for incidents, in named background tasks."""

    def __init__(
        self,
        store: Store,
        recorder: VideoRecorder,
        *,
        config: VideoEvidenceConfig | None = None,
        camera_time: CameraTime = same_clock,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.config = config or VideoEvidenceConfig()
        self.camera_time = camera_time
        self.locker = EvidenceLocker(store)
        self.book = Incidents(store)
        self.results: dict[int, VideoCapture] = {}
        self._cuts = asyncio.Semaphore(self.config.max_concurrent_cuts)
        self._tasks: asyncio.TaskGroup | None = None
        self._pending: dict[int, asyncio.Task[VideoCapture]] = {}
        self._seen: set[int] = set()  # incidents the sweep has looked at
        self._since_us = 0
        self._stop = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._since_us = _wall_us() - round(self.config.sweep_lookback_s * 1e6)
        self._stop.clear()
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        if self.config.sweep_every_s is not None:
            self._sweeper = self._tasks.create_task(
                self._sweep_loop(self.config.sweep_every_s), name="video-evidence-sweep"
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()  # the sweep ends; pending captures finish
        tasks, self._tasks = self._tasks, None
        if tasks is not None:
            await tasks.__aexit__(exc_type, exc, tb)
        self._sweeper = None

    async def sweep(self) -> list[int]:
        """Request video for incidents raised by anyone since this capture started (less
        the lookback) for a recorded vehicle, that have neither video evidence nor a note
        saying why not. Returns the incident ids it requested."""
        found = await self.book.query(since_us=self._since_us, limit=1000)
        started: list[int] = []
        for brief in found:
            iid = brief.incident_id
            if self._stop.is_set():  # leaving: no new captures
                break
            if (
                brief.vehicle_id is None
                or not self.records(brief.vehicle_id)
                or iid in self._seen
                or iid in self._pending
                or iid in self.results
            ):
                continue
            self._seen.add(iid)
            incident = await self.book.get(iid)
            has_video = any(e.kind in (EvidenceKind.VIDEO, EvidenceKind.SNAPSHOT)
                            for e in incident.evidence)  # fmt: skip
            explained = any(n.text.startswith(_NO_VIDEO) for n in incident.notes)
            if not (has_video or explained) and self.request(incident):
                started.append(iid)
        return started

    async def _sweep_loop(self, every_s: float) -> None:
        while not self._stop.is_set():
            try:
                await self.sweep()
            except DroneOpsError as exc:  # the store is down: look again next round
                log.warning("video evidence sweep failed (%s); retrying in %g s", exc, every_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every_s):
                    await self._stop.wait()

    @property
    def pending(self) -> int:
        """Captures waiting for footage or being cut."""
        return len(self._pending)

    def records(self, vehicle_id: str) -> bool:
        return vehicle_id in self.recorder.ingests

    def request(self, incident: Incident) -> bool:
        """Start capturing the incident's footage in the background; False if there is no
        video to capture (no vehicle, or that vehicle's camera is not recorded)."""
        if incident.vehicle_id is None or not self.records(incident.vehicle_id):
            return False
        if self._tasks is None:  # the incident is stored already: say so, don't fail it
            log.warning(
                "incident %s: video capture is not running, so it gets no video",
                incident.incident_id,
            )
            return False
        if incident.incident_id in self._pending or incident.incident_id in self.results:
            return True
        self._pending[incident.incident_id] = self._tasks.create_task(
            self._run(incident), name=f"video-evidence-incident-{incident.incident_id}"
        )
        return True

    async def wait(self, incident_id: int) -> VideoCapture:
        """The capture of one requested incident, once it is done."""
        task = self._pending.get(incident_id)
        if task is not None:
            return await asyncio.shield(task)
        try:
            return self.results[incident_id]
        except KeyError:
            raise IncidentError(
                f"no video capture was requested for incident {incident_id}"
            ) from None

    async def drain(self) -> list[VideoCapture]:
        """Wait for every capture requested so far."""
        done = []
        while self._pending:
            done.append(await self.wait(next(iter(self._pending))))
        return done

    async def _run(self, incident: Incident) -> VideoCapture:
        try:
            result = await self.capture(incident)
        except Exception as exc:  # a bug must not take the other captures down with it
            log.exception("incident %s: video capture failed", incident.incident_id)
            assert incident.vehicle_id is not None
            result = VideoCapture(
                incident_id=incident.incident_id,
                vehicle_id=incident.vehicle_id,
                error=f"video capture failed ({type(exc).__name__}: {exc})",
            )
        finally:
            self._pending.pop(incident.incident_id, None)
        self.results[incident.incident_id] = result
        while len(self.results) > _KEEP_RESULTS:
            del self.results[next(iter(self.results))]
        return result

    async def capture(self, incident: Incident) -> VideoCapture:
        """Cut, copy in, hash and audit the incident's clip and snapshot (waits for T+post).

        Never raises for missing or damaged footage: the reason is noted on the
        incident (an audited note) and returned.
        """
        vehicle_id = incident.vehicle_id
        if vehicle_id is None:
            raise IncidentError(f"incident {incident.incident_id} names no vehicle: no video")
        cfg = self.config
        at_us = self.camera_time(incident.time_unix_us)
        try:
            ingest = self.recorder.ingest(vehicle_id)
            # Wait for T+post outside the limit: only cutting and filing take turns.
            await ingest.wait_until(
                at_us + round(cfg.post_s * 1e6), timeout_wall_s=ingest.config.evidence_wait_wall_s
            )
            async with self._cuts:
                cut = await self.recorder.cut_evidence(
                    vehicle_id, at_us=at_us, pre_s=cfg.pre_s, post_s=cfg.post_s
                )
                clip = await self._file(incident.incident_id, cut.clip)
                snapshot = await self._file(incident.incident_id, cut.snapshot)
        except (TelemetryError, DroneOpsError, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("incident %s: no video evidence: %s", incident.incident_id, reason)
            await self._note(incident.incident_id, f"{_NO_VIDEO} {vehicle_id}: {reason}")
            return VideoCapture(
                incident_id=incident.incident_id,
                vehicle_id=vehicle_id,
                at_camera_us=at_us,
                error=reason,
            )
        return VideoCapture(
            incident_id=incident.incident_id,
            vehicle_id=vehicle_id,
            at_camera_us=at_us,
            clip=clip,
            snapshot=snapshot,
        )

    async def _file(self, incident_id: int, ev: VideoEvidence) -> EvidenceRecord:
        """Copy one cut file from the video blob store into the evidence directory."""
        blobs = self.recorder.blobs
        local = blobs.staging_dir() / f"{uuid.uuid4().hex}-{posixpath.basename(ev.path)}"
        try:
            await blobs.fetch(ev.path, local)
            digest, size = await asyncio.to_thread(sha256_file, local)
            if digest != ev.sha256 or size != ev.size_bytes:
                raise IncidentError(
                    f"video {ev.kind} {ev.path} changed between cutting and filing "
                    "(SHA-256 differs): check the video directory's disk"
                )
            record = await self.locker.add_file(
                incident_id,
                local,
                kind=_KIND[ev.kind],
                actor=self.config.actor,
                media_type=_MEDIA[ev.kind],
                name=posixpath.basename(ev.path),
                t0_us=ev.start_us,
                t1_us=ev.end_us,
            )
        finally:
            await asyncio.to_thread(local.unlink, True)
        if record.sha256 != ev.sha256:
            raise IncidentError(f"video {ev.kind} for incident {incident_id} was altered on copy")
        try:
            await blobs.delete(ev.path)  # the evidence directory holds it now
        except TelemetryError as exc:  # a leftover copy costs disk, not evidence
            log.warning("video %s filed, but its blob copy stays: %s", ev.path, exc)
        return record

    async def _note(self, incident_id: int, text: str) -> None:
        try:
            await self.book.add_note(incident_id, text, actor=self.config.actor)
        except Exception as exc:  # the store is down: the log keeps the reason
            log.error("incident %s: cannot note missing video (%s)", incident_id, exc)


class VideoIncidents(Incidents):
    """The incident book that also asks for video evidence of every incident it raises
    (rules and operator marks alike); use it wherever an `Incidents` is taken."""

    def __init__(
        self, store: Store, capture: VideoEvidenceCapture, *, principal: Principal | None = None
    ) -> None:
        super().__init__(store, principal=principal)
        self.capture = capture

    async def raise_incident(self, draft: IncidentDraft, *, actor: str) -> Incident:
        incident = await super().raise_incident(draft, actor=actor)
        self.capture.request(incident)
        return incident


PX4_VIDEO_BASE_PORT = 5600


def px4_video_sources(
    vehicle_ids: Sequence[str], *, base_port: int = PX4_VIDEO_BASE_PORT, host: str = "127.0.0.1"
) -> dict[str, VideoSource]:
    """PX4's convention: vehicle i (0-based, in the fleet's order) streams to 5600+i."""
    return {vid: VideoSource(host=host, port=base_port + i) for i, vid in enumerate(vehicle_ids)}


def sdp_video_sources(directory: Path, vehicle_ids: Sequence[str]) -> dict[str, VideoSource]:
    """Vehicle i's stream as `vehicle-<i>.sdp` in `directory` describes it (the files
    `drone-ops sim --video --video-dir DIR` writes); a missing file is a one-line error."""
    return {vid: read_sdp(directory / f"vehicle-{i}.sdp") for i, vid in enumerate(vehicle_ids)}


@asynccontextmanager
async def video_evidence(
    store: Store,
    *,
    sources: Mapping[str, VideoSource],
    video_dir: Path,
    config: VideoEvidenceConfig | None = None,
    ingest: IngestConfig | None = None,
    camera_now_us: Callable[[], int] | None = None,
    speedup: float = 1.0,
    retention_max_age_s: float | None = None,
) -> AsyncIterator[VideoEvidenceCapture]:
    """Record `sources` (vehicle id → stream) into `video_dir`, indexed in `store`, and
    capture incident video; leaving ends captures first, then the recorder.

    For a simulator, pass its clock as `camera_now_us` and its `speedup`: retention
    ages and incident times are then read on the cameras' clock.
    """
    evidence = config or VideoEvidenceConfig()
    ingest = ingest or IngestConfig(pre_s=evidence.pre_s, post_s=evidence.post_s)
    recorder = VideoRecorder(
        sources=sources,
        blobs=LocalBlobStore(video_dir),
        index=store,
        config=ingest,
        retention_max_age_s=retention_max_age_s,
        now_us=camera_now_us or _wall_us,
    )
    camera_time = (
        same_clock if camera_now_us is None else scaled_camera_time(camera_now_us, speedup)
    )
    async with (
        recorder,
        VideoEvidenceCapture(store, recorder, config=evidence, camera_time=camera_time) as capture,
    ):
        yield capture
