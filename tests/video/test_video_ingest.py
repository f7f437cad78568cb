"""Simulated camera → real UDP → recorder: segments, evidence clips and snapshots,
stream gaps, retention and the preview — all through real PyAV and real files."""

from __future__ import annotations

import hashlib
import itertools
import socket
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from drone_ops.audit import MemoryAuditLog, entry_hash
from sitl.camera import CameraConfig, CameraPose, GroundTexture, ScaledClock, SimCamera
from telemetry.video import (
    EvidenceUnavailableError,
    IngestConfig,
    IngestState,
    LocalBlobStore,
    MemoryVideoIndex,
    VideoConfigError,
    VideoIngest,
    VideoSource,
    apply_retention,
    read_sdp,
)

SPEEDUP = 4.0
FPS = 15.0
GOP_S = 1.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def camera_for(
    port: int, clock: ScaledClock, ground: GroundTexture, pose: Callable[[], CameraPose]
) -> SimCamera:
    config = CameraConfig(
        port=port, fps=FPS, max_wall_fps=FPS, gop_s=GOP_S, width_px=320, height_px=240
    )
    return SimCamera(vehicle_id="v1", pose=pose, clock=clock, config=config, ground=ground)


def ingest_config(**overrides: float) -> IngestConfig:
    values = {
        "segment_s": 3.0,
        "ring_s": 12.0,
        "pre_s": 2.0,
        "post_s": 2.0,
        "stall_timeout_wall_s": 0.6,
        "evidence_wait_wall_s": 20.0,
    } | overrides
    return IngestConfig(**values)


def decoded_frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


async def test_camera_to_segments_to_evidence_clip_and_snapshot(
    tmp_path: Path, ground: GroundTexture, make_pose: Callable[..., Callable[[], CameraPose]]
) -> None:
    port = free_udp_port()
    clock = ScaledClock(SPEEDUP)
    blobs = LocalBlobStore(tmp_path / "video")
    index = MemoryVideoIndex()
    ingest = VideoIngest(
        vehicle_id="v1",
        source=VideoSource(port=port),
        blobs=blobs,
        index=index,
        config=ingest_config(),
    )
    async with ingest, camera_for(port, clock, ground, make_pose(clock)):
        await ingest.wait_for(lambda: ingest.stats.units_recorded > 0, timeout_wall_s=20)
        incident_us = int((clock.time_unix_s() + 3.0) * 1e6)  # pre-event footage needed
        evidence = await ingest.cut_evidence(at_us=incident_us, pre_s=2.0, post_s=2.0)
        await ingest.wait_for(lambda: ingest.stats.segments_written >= 2, timeout_wall_s=20)

    clip, shot = evidence.clip, evidence.snapshot
    clip_path = blobs.path(clip.path)
    frames = decoded_frames(clip_path)
    frame_us = [clip.start_us + round(float(f.time) * 1e6) for f in frames]
    # A loaded machine drops frames: bounds use the gaps actually recorded.
    max_gap_us = max(b - a for a, b in itertools.pairwise(frame_us))
    # The clip covers [T-2 s, T+2 s], starting at most one GOP (plus a frame) early
    # and ending with the first frame at or after T+2 s.
    assert clip.start_us <= incident_us - 2_000_000
    assert incident_us - 2_000_000 - clip.start_us <= GOP_S * 1e6 + max_gap_us
    assert clip.end_us >= incident_us + 2_000_000
    assert clip.end_us - (incident_us + 2_000_000) <= max_gap_us
    # It exists, decodes with PyAV from its first frame, spans what the record says,
    # and its bytes hash to the recorded SHA-256.
    assert frames[0].key_frame
    assert frames[0].width == 320
    assert abs(frame_us[-1] - clip.end_us) <= 1000
    assert hashlib.sha256(clip_path.read_bytes()).hexdigest() == clip.sha256
    assert clip.size_bytes == clip_path.stat().st_size
    # The snapshot is a JPEG of the clip's frame nearest T.
    shot_path = blobs.path(shot.path)
    assert shot_path.read_bytes()[:2] == b"\xff\xd8"
    assert hashlib.sha256(shot_path.read_bytes()).hexdigest() == shot.sha256
    nearest_us = min(frame_us, key=lambda t: abs(t - incident_us))
    assert abs(shot.start_us - nearest_us) <= 1000
    (jpeg,) = decoded_frames(shot_path)
    assert (jpeg.width, jpeg.height) == (320, 240)

    # Entered in the audit chain by hash, the evidence can be checked later.
    audit = MemoryAuditLog()
    entry = await audit.append(
        actor="controller",
        action="incident.evidence",
        target="incident:1",
        payload={"path": clip.path, "sha256": clip.sha256},
    )
    assert entry.hash == entry_hash(entry.prev_hash, entry.body())
    assert entry.payload["sha256"] == hashlib.sha256(clip_path.read_bytes()).hexdigest()

    # Segments: indexed with the hash of their bytes, keyframe-aligned, in time order.
    segments = index.segments_of("v1")
    assert len(segments) >= 2
    for seg in segments:
        path = blobs.path(seg.path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == seg.sha256
        seg_frames = decoded_frames(path)
        assert seg_frames[0].key_frame
        assert seg.end_us >= seg.start_us  # the last one may hold a single frame
    assert all(a.end_us < b.start_us for a, b in itertools.pairwise(segments))
    assert not index.gaps
    assert ingest.stats.evidence_from_segments == 0  # the ring had it all
    assert ingest.state is IngestState.CLOSED


async def test_a_cut_stream_is_recorded_as_a_gap_and_recording_resumes(
    tmp_path: Path, ground: GroundTexture, make_pose: Callable[..., Callable[[], CameraPose]]
) -> None:
    port = free_udp_port()
    clock = ScaledClock(SPEEDUP)
    blobs = LocalBlobStore(tmp_path / "video")
    index = MemoryVideoIndex()
    ingest = VideoIngest(
        vehicle_id="v1",
        source=VideoSource(port=port),
        blobs=blobs,
        index=index,
        config=ingest_config(),
    )
    pose = make_pose(clock)
    async with ingest:
        first = camera_for(port, clock, ground, pose)
        async with first:
            await ingest.wait_for(lambda: ingest.stats.units_recorded >= 8, timeout_wall_s=20)
        last_before_cut = first.stats.last_frame_unix_us
        assert last_before_cut is not None
        await ingest.wait_for(lambda: ingest.state is IngestState.LOST, timeout_wall_s=20)
        # The camera comes back (a new process: new SSRC, new encoder).
        second = camera_for(port, clock, ground, pose)
        async with second:
            await ingest.wait_for(
                lambda: ingest.stats.gaps_recorded == 1 and ingest.stats.units_recorded >= 16,
                timeout_wall_s=20,
            )
            assert ingest.state is IngestState.RECEIVING
        first_after = second.stats.frame_times_unix_us[0]

    (gap,) = index.gaps
    assert gap.vehicle_id == "v1"
    assert gap.start_us <= last_before_cut
    assert gap.end_us >= first_after
    assert gap.end_us - gap.start_us >= 0.6 * SPEEDUP * 1e6  # at least the stall timeout
    segments = index.segments_of("v1")
    # No segment spans the gap, and recording carried on after it.
    assert all(s.end_us <= gap.start_us or s.start_us >= gap.end_us for s in segments)
    after = [s for s in segments if s.start_us >= gap.end_us]
    assert after
    assert decoded_frames(blobs.path(after[0].path))[0].key_frame


async def test_the_preview_decodes_only_while_someone_watches(
    tmp_path: Path, ground: GroundTexture, make_pose: Callable[..., Callable[[], CameraPose]]
) -> None:
    port = free_udp_port()
    clock = ScaledClock(SPEEDUP)
    ingest = VideoIngest(
        vehicle_id="v1",
        source=VideoSource(port=port),
        blobs=LocalBlobStore(tmp_path / "video"),
        index=MemoryVideoIndex(),
        config=ingest_config(),
    )
    async with ingest, camera_for(port, clock, ground, make_pose(clock)):
        await ingest.wait_for(lambda: ingest.stats.units_recorded >= 6, timeout_wall_s=20)
        assert ingest.preview() is None
        assert ingest.preview_frames_decoded == 0  # nobody watched: no decoding cost
        with ingest.watch_preview():
            await ingest.wait_for(lambda: ingest.preview() is not None, timeout_wall_s=20)
            frame = ingest.preview()
            assert frame is not None
            assert frame.rgb.shape == (120, 160, 3)
            assert frame.rgb.dtype == np.uint8
            assert frame.rgb.std() > 5  # a picture, not a blank
        decoded = ingest.preview_frames_decoded
        await ingest.wait_for(
            lambda: ingest.stats.units_recorded >= 6 + decoded + 4, timeout_wall_s=20
        )
        assert ingest.preview() is None
        assert ingest.preview_frames_decoded == decoded


async def test_evidence_without_any_video_is_a_clear_error(tmp_path: Path) -> None:
    ingest = VideoIngest(
        vehicle_id="v7",
        source=VideoSource(port=free_udp_port()),
        blobs=LocalBlobStore(tmp_path / "video"),
        index=MemoryVideoIndex(),
        config=ingest_config(evidence_wait_wall_s=0.2),
    )
    async with ingest:
        with pytest.raises(EvidenceUnavailableError, match="no video from v7"):
            await ingest.cut_evidence(at_us=1_700_000_000_000_000)


async def test_a_busy_video_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        ingest = VideoIngest(
            vehicle_id="v1",
            source=VideoSource(port=port),
            blobs=LocalBlobStore(tmp_path / "video"),
            index=MemoryVideoIndex(),
        )
        with pytest.raises(VideoConfigError, match=f"video port 127.0.0.1:{port}") as info:
            await ingest.__aenter__()
        assert "\n" not in str(info.value)


def test_the_sdp_the_camera_writes_is_what_the_recorder_reads(tmp_path: Path) -> None:
    from sitl.camera import write_sdp

    path = write_sdp(tmp_path / "vehicle-3.sdp", host="127.0.0.1", port=5603, title="v4", fps=15)
    assert read_sdp(path) == VideoSource(host="127.0.0.1", port=5603, payload_type=96)
    (tmp_path / "bad.sdp").write_text("v=0\nm=audio 5000 RTP/AVP 0\n")
    with pytest.raises(VideoConfigError, match="no 'm=video"):
        read_sdp(tmp_path / "bad.sdp")


async def test_retention_removes_old_segments_but_keeps_incident_footage(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "video")
    index = MemoryVideoIndex()
    day_us = 86_400 * 1_000_000
    now_us = 1_750_000_000_000_000
    keys = {}
    for name, age_days in (("old-a", 10), ("old-b", 9), ("incident", 8), ("fresh", 0.5)):
        key = f"segments/v1/{name}.mp4"
        await blobs.put_bytes(key, name.encode() * 100)
        end = now_us - int(age_days * day_us)
        await index.add_video_segment(
            vehicle_id="v1",
            start_us=end - 10_000_000,
            end_us=end,
            path=key,
            sha256=hashlib.sha256(name.encode()).hexdigest(),
            size_bytes=len(name) * 100,
        )
        keys[name] = key
    await blobs.put_bytes("evidence/v1/clip.mp4", b"clip")  # evidence is never a segment
    index.reference([keys["incident"], "evidence/v1/clip.mp4"])

    report = await apply_retention(index=index, blobs=blobs, max_age_s=7 * 86_400, now_us=now_us)

    assert set(report.removed) == {keys["old-a"], keys["old-b"]}
    assert report.kept_referenced == (keys["incident"],)
    assert report.bytes_freed == 1000
    assert await blobs.list() == sorted(["evidence/v1/clip.mp4", keys["incident"], keys["fresh"]])
    assert {s.path for s in index.segments_of("v1")} == {keys["incident"], keys["fresh"]}
    # Nothing more to do on a second pass.
    again = await apply_retention(index=index, blobs=blobs, max_age_s=7 * 86_400, now_us=now_us)
    assert again.removed == ()


def test_evidence_unavailable_is_a_video_error() -> None:
    from telemetry import TelemetryError

    assert issubclass(EvidenceUnavailableError, TelemetryError)


async def test_an_incident_older_than_the_ring_is_cut_from_the_stored_segments(
    tmp_path: Path, ground: GroundTexture, make_pose: Callable[..., Callable[[], CameraPose]]
) -> None:
    port = free_udp_port()
    clock = ScaledClock(SPEEDUP)
    blobs = LocalBlobStore(tmp_path / "video")
    index = MemoryVideoIndex()
    config = ingest_config(segment_s=1.0, ring_s=3.0, pre_s=1.0, post_s=1.0)
    ingest = VideoIngest(
        vehicle_id="v1", source=VideoSource(port=port), blobs=blobs, index=index, config=config
    )
    async with ingest, camera_for(port, clock, ground, make_pose(clock)):
        await ingest.wait_for(lambda: ingest.stats.units_recorded > 0, timeout_wall_s=20)
        incident_us = int((clock.time_unix_s() + 2.0) * 1e6)
        # Reported late: by now the ring holds only footage well after the incident.
        late_us = incident_us + 9_000_000
        await ingest.wait_for(lambda: (ingest.stats.last_unit_us or 0) > late_us, timeout_wall_s=30)
        evidence = await ingest.cut_evidence(at_us=incident_us, pre_s=1.0, post_s=1.0)
    assert ingest.stats.evidence_from_segments == 1
    clip = evidence.clip
    # Covers the requested start within one GOP (1 s): a loaded machine may drop the
    # camera's frame that would have been the keyframe just before it.
    assert clip.start_us - 1_000_000 <= incident_us - 1_000_000 < clip.start_us + 1_500_000
    assert clip.end_us >= incident_us + 1_000_000
    frames = decoded_frames(blobs.path(clip.path))
    assert frames[0].key_frame
    assert float(frames[-1].time) == pytest.approx((clip.end_us - clip.start_us) / 1e6, abs=0.002)
    assert hashlib.sha256(blobs.path(clip.path).read_bytes()).hexdigest() == clip.sha256
    assert abs(evidence.snapshot.start_us - incident_us) < 1_000_000
