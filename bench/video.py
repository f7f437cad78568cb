"""Video benchmark: CPU per simulated camera, CPU per recorded stream, and latency
from a frame's capture to its arrival in a segment file.

    .venv/bin/python bench/video.py [--seconds 8] [--width 640 --height 480 --fps 15]

Goals (issue 7): recording one 640×480@15 stream without re-encoding costs
under 3 % of one core; capture → segment file under 200 ms. The camera runs in
a child process so the recorder's CPU is measured alone. Each CPU figure is
given with a baseline measured in the same run: an idle event loop, and a bare
UDP socket draining the same stream (the least any receiver must do).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import statistics
import tempfile
import time
from pathlib import Path

from sitl.camera import CameraConfig, CameraPose, GroundTexture, ScaledClock, SimCamera
from telemetry.video import (
    IngestConfig,
    LocalBlobStore,
    MemoryVideoIndex,
    VideoIngest,
    VideoSource,
)

POSE_SPEED_M_S = 10.0


def _pose(clock: ScaledClock, t0: float) -> CameraPose:
    d = (clock.time_unix_s() - t0) * POSE_SPEED_M_S
    return CameraPose(
        lat_deg=47.3977 + d / 111_320.0, lon_deg=8.5456, rel_alt_m=60.0, heading_deg=0.0
    )


async def _run_camera(port: int, seconds: float, cfg: CameraConfig) -> tuple[float, int, int]:
    ground = await asyncio.to_thread(GroundTexture.generate, seed=1)
    clock = ScaledClock(1.0)
    t0 = clock.time_unix_s()
    camera = SimCamera(
        vehicle_id="v1",
        pose=lambda: _pose(clock, t0),
        clock=clock,
        config=CameraConfig(port=port, width_px=cfg.width_px, height_px=cfg.height_px, fps=cfg.fps),
        ground=ground,
    )
    async with camera:
        cpu0, wall0 = time.process_time(), time.monotonic()
        sent0, dropped0 = camera.stats.frames_sent, camera.stats.frames_dropped
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return (
        cpu / wall,
        camera.stats.frames_sent - sent0,
        camera.stats.frames_dropped - dropped0,
    )


def _camera_child(port: int, seconds: float, cfg: CameraConfig) -> None:
    asyncio.run(_run_camera(port, seconds, cfg))


async def _idle(seconds: float) -> float:
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu0) / (time.monotonic() - wall0)


class _Drain(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets = 0
        self.first = asyncio.Event()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.packets += 1
        self.first.set()


async def _drain(port: int, seconds: float) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    drain = _Drain()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: drain, local_addr=("127.0.0.1", port)
    )
    try:
        await drain.first.wait()
        cpu0, wall0, n0 = time.process_time(), time.monotonic(), drain.packets
        await asyncio.sleep(seconds)
        return (time.process_time() - cpu0) / (time.monotonic() - wall0), drain.packets - n0
    finally:
        transport.close()
        await asyncio.sleep(0)  # the socket closes on the next loop iteration


async def _ingest(port: int, seconds: float, root: Path) -> tuple[float, VideoIngest]:
    ingest = VideoIngest(
        vehicle_id="v1",
        source=VideoSource(port=port),
        blobs=LocalBlobStore(root),
        index=MemoryVideoIndex(),
        config=IngestConfig(segment_s=5.0),
    )
    async with ingest:
        await ingest.wait_for(lambda: ingest.stats.units_recorded > 15, timeout_wall_s=30)
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    return cpu, ingest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=15.0)
    args = parser.parse_args()
    cfg = CameraConfig(width_px=args.width, height_px=args.height, fps=args.fps)
    label = f"{cfg.width_px}x{cfg.height_px}@{cfg.fps:g}"
    print(f"video benchmark, {label}, {args.seconds:g} s per phase")

    idle = await _idle(args.seconds / 2)
    print(f"  baseline: idle event loop             {idle * 100:6.2f} % of one core")

    cam_cpu, sent, dropped = await _run_camera(_free_port(), args.seconds, cfg)
    print(
        f"  simulated camera (render+x264+RTP)    {cam_cpu * 100:6.2f} % of one core"
        f"  ({sent} frames sent, {dropped} dropped; {cam_cpu / max(idle, 1e-4):.0f}x idle)"
    )

    port = _free_port()
    total = args.seconds * 2 + 6
    child = mp.get_context("spawn").Process(target=_camera_child, args=(port, total, cfg))
    child.start()
    try:
        drain_cpu, packets = await _drain(port, args.seconds / 2)
        print(
            f"  baseline: bare UDP drain of stream    {drain_cpu * 100:6.2f} % of one core"
            f"  ({packets / (args.seconds / 2):.0f} packets/s)"
        )
        with tempfile.TemporaryDirectory() as tmp:
            ingest_cpu, ingest = await _ingest(port, args.seconds, Path(tmp))
        st = ingest.stats
        ratio = ingest_cpu / max(drain_cpu, 1e-4)
        goal = "meets" if ingest_cpu < 0.03 else "misses"
        print(
            f"  recorder (segments+ring, no re-encode) {ingest_cpu * 100:5.2f} % of one core"
            f"  ({ratio:.1f}x the bare drain; {goal} the 3 % goal)"
        )
        lat = [v * 1000 for v in st.capture_latencies_s]
        arrive = [v * 1000 for v in st.write_latencies_s]
        if lat:
            goal = "meets" if _pct(lat, 0.95) < 200 else "misses"
            print(
                f"  capture → segment file latency        median {statistics.median(lat):5.1f} ms,"
                f" p95 {_pct(lat, 0.95):5.1f} ms, max {max(lat):5.1f} ms ({goal} the 200 ms goal)"
            )
            print(
                "    of which packet arrival → file      "
                f"median {statistics.median(arrive):5.2f} ms"
            )
        print(
            f"  recorded {st.units_recorded} frames in {st.segments_written} segments,"
            f" {ingest.depacketizer.stats.lost_packets} packets lost,"
            f" {st.units_overflowed} overflowed"
        )
    finally:
        child.terminate()
        child.join()


if __name__ == "__main__":
    asyncio.run(main())
