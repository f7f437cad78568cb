"""The simulated fleet with cameras: each vehicle streams on its own video port,
and the recorder sees frames stamped on the fleet's sim clock."""

from __future__ import annotations

from pathlib import Path

from sitl import SimConfig, SimFleet
from sitl.camera import CameraConfig, FleetCameras
from sitl.config import free_vehicle_ports
from telemetry.video import (
    LocalBlobStore,
    MemoryVideoIndex,
    VideoIngest,
    VideoSource,
    read_sdp,
)


async def test_every_vehicle_streams_video_on_its_port_on_the_sim_clock(tmp_path: Path) -> None:
    ports = free_vehicle_ports(2)
    config = SimConfig(count=2, speedup=5.0, ports=ports)
    small = CameraConfig(width_px=320, height_px=240, fps=10, max_wall_fps=10)
    blobs = LocalBlobStore(tmp_path / "video")
    async with SimFleet(config) as fleet:
        ingest = VideoIngest(
            vehicle_id="v2",
            source=VideoSource(port=ports[1].video),
            blobs=blobs,
            index=MemoryVideoIndex(),
        )
        async with ingest, FleetCameras(fleet, sdp_dir=tmp_path / "sdp", config=small):
            sdp = read_sdp(tmp_path / "sdp" / "vehicle-1.sdp")
            assert sdp.port == ports[1].video
            await ingest.wait_for(lambda: ingest.stats.units_recorded >= 5, timeout_wall_s=30)
            sim_now_us = fleet.clock.unix_usec()
            last = ingest.stats.last_unit_us
    assert last is not None
    # Stamped on the sim clock (5x faster than the wall): within a couple of sim seconds.
    assert abs(sim_now_us - last) < 2_000_000
