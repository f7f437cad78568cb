"""The fleet recorder: several streams at once, evidence by vehicle id, and no
segment lost when the index (the store) refuses writes for a while."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from sitl.camera import CameraConfig, CameraPose, GroundTexture, ScaledClock, SimCamera
from telemetry.video import (
    IngestConfig,
    LocalBlobStore,
    MemoryVideoIndex,
    VideoConfigError,
    VideoRecorder,
    VideoSource,
)


class FakeFlakyIndex(MemoryVideoIndex):
    """Fake of a store that is down for its first `failures` segment writes."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def add_video_segment(self, **fields: object) -> int:  # type: ignore[override]
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database is restarting")
        return await super().add_video_segment(**fields)  # type: ignore[arg-type]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_two_streams_recorded_and_no_segment_lost_while_the_index_is_down(
    tmp_path: Path, ground: GroundTexture, make_pose: Callable[..., Callable[[], CameraPose]]
) -> None:
    clock = ScaledClock(2.0)
    ports = {"v1": free_udp_port(), "v2": free_udp_port()}
    index = FakeFlakyIndex(failures=2)
    blobs = LocalBlobStore(tmp_path / "video")
    recorder = VideoRecorder(
        sources={vid: VideoSource(port=p) for vid, p in ports.items()},
        blobs=blobs,
        index=index,
        config=IngestConfig(segment_s=1.0, ring_s=6.0, pre_s=1.0, post_s=1.0),
        retention_max_age_s=30 * 86_400,
    )
    cameras = [
        SimCamera(
            vehicle_id=vid,
            pose=make_pose(clock, heading_deg=90.0 * n),
            clock=clock,
            config=CameraConfig(port=port, width_px=320, height_px=240, fps=10),
            ground=ground,
        )
        for n, (vid, port) in enumerate(ports.items())
    ]
    async with recorder, cameras[0], cameras[1]:
        for vid in ports:
            ingest = recorder.ingest(vid)
            await ingest.wait_for(lambda i=ingest: i.stats.segments_written >= 3, timeout_wall_s=30)
        at_us = int(clock.time_unix_s() * 1e6)
        evidence = await recorder.cut_evidence("v2", at_us=at_us, pre_s=1.0, post_s=1.0)
        with pytest.raises(VideoConfigError, match="no video stream for vehicle 'v9'"):
            recorder.ingest("v9")
    assert recorder.last_retention is not None
    assert recorder.last_retention.removed == ()
    assert evidence.clip.vehicle_id == "v2"
    assert blobs.path(evidence.clip.path).is_file()
    for vid in ports:
        ingest = recorder.ingest(vid)
        assert ingest.unindexed == 0
        indexed = index.segments_of(vid)
        assert len(indexed) == ingest.stats.segments_written
        assert all(blobs.path(s.path).is_file() for s in indexed)
    assert sum(recorder.ingest(v).stats.index_errors for v in ports) >= 2


def test_two_vehicles_on_one_port_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VideoConfigError, match="share a video port"):
        VideoRecorder(
            sources={"v1": VideoSource(port=5600), "v2": VideoSource(port=5600)},
            blobs=LocalBlobStore(tmp_path),
            index=MemoryVideoIndex(),
        )
