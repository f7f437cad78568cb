"""The simulated camera: deterministic ground, the geometry the planner assumes,
sim-clock pacing that drops frames instead of drifting, and an RTP stream that
FFmpeg's own SDP/RTP reader (what ffplay uses) decodes to the rendered picture."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from sitl.camera import (
    DEFAULT_HFOV_DEG,
    CameraConfig,
    CameraConfigError,
    CameraPose,
    EncodedFrame,
    FrameRenderer,
    GroundTexture,
    LocalTangentPlane,
    ScaledClock,
    SimCamera,
    footprint_width_m,
    video_port,
)

ORIGIN = LocalTangentPlane(origin_lat_deg=47.397742, origin_lon_deg=8.545594)
POSE = CameraPose(lat_deg=47.3979, lon_deg=8.5459, rel_alt_m=60.0, heading_deg=30.0)


def test_ground_and_frames_are_deterministic_for_a_seed() -> None:
    a = GroundTexture.generate(seed=11, size_px=256)
    b = GroundTexture.generate(seed=11, size_px=256)
    c = GroundTexture.generate(seed=12, size_px=256)
    assert all(np.array_equal(x, y) for x, y in zip(a.levels, b.levels, strict=True))
    assert not np.array_equal(a.levels[0], c.levels[0])
    ra = FrameRenderer(ground=a, plane=ORIGIN).render(POSE, label="v1", time_unix_us=1_000_000)
    rb = FrameRenderer(ground=b, plane=ORIGIN).render(POSE, label="v1", time_unix_us=1_000_000)
    assert ra.shape == (480, 640, 3)
    assert np.array_equal(ra, rb)
    # The ground has more than one colour (roads, roofs, trees, water, grass).
    assert len(np.unique(a.levels[0].reshape(-1, 3), axis=0)) > 20


def test_geometry_matches_the_planners_field_of_view() -> None:
    """A bright line 20 m east of the camera lands where an 84° HFOV puts it."""
    size = 512
    img = np.zeros((size, size, 3), dtype=np.uint8)
    img[:, 40] = 255  # texture column 40 at 0.5 m/px = 20 m east of the origin
    ground = GroundTexture(seed=0, m_per_px=0.5, levels=(img,))
    renderer = FrameRenderer(ground=ground, plane=ORIGIN, width_px=640, height_px=480)
    pose = CameraPose(
        lat_deg=ORIGIN.origin_lat_deg, lon_deg=ORIGIN.origin_lon_deg, rel_alt_m=40.0, heading_deg=0
    )
    frame = renderer.render(pose)
    lit_cols = np.nonzero(frame[240, :, 0] == 255)[0]
    m_per_px = footprint_width_m(40.0, DEFAULT_HFOV_DEG) / 640
    assert footprint_width_m(40.0, 84.0) == pytest.approx(2 * 40 * math.tan(math.radians(42)))
    expected_col = 319.5 + 20.25 / m_per_px  # centre of texel 40 is 20.25 m east
    assert lit_cols.size > 0
    assert abs(lit_cols.mean() - expected_col) <= 1.5
    # Turning to heading 90° (east) puts the line straight ahead: the top half of the image.
    ahead = renderer.render(
        CameraPose(lat_deg=pose.lat_deg, lon_deg=pose.lon_deg, rel_alt_m=40.0, heading_deg=90.0)
    )
    lit_rows = np.nonzero(ahead[:, 320, 0] == 255)[0]
    assert lit_rows.size > 0
    assert abs(lit_rows.mean() - (239.5 - 20.25 / m_per_px)) <= 1.5


def test_bad_settings_are_refused_with_a_clear_message() -> None:
    with pytest.raises(CameraConfigError, match="field of view"):
        FrameRenderer(ground=GroundTexture.generate(seed=1, size_px=256), plane=ORIGIN, hfov_deg=5)
    with pytest.raises(CameraConfigError, match="UDP port"):
        CameraConfig(port=70000)
    with pytest.raises(CameraConfigError, match="WGS-84"):
        CameraPose(lat_deg=95.0, lon_deg=0.0, rel_alt_m=10.0, heading_deg=0.0)


def test_the_video_port_follows_the_px4_convention() -> None:
    assert [video_port(i) for i in range(3)] == [5600, 5601, 5602]
    assert CameraConfig().port == 5600
    assert (CameraConfig().width_px, CameraConfig().height_px, CameraConfig().fps) == (640, 480, 15)


async def test_a_camera_that_cannot_keep_up_drops_frames_instead_of_drifting(
    ground: GroundTexture,
    udp_port_pair: int,
    make_pose: Callable[..., Callable[[], CameraPose]],
) -> None:
    clock = ScaledClock(speedup=30.0)
    config = CameraConfig(port=udp_port_pair, fps=15, max_wall_fps=20, width_px=320, height_px=240)
    first: list[int] = []
    done = asyncio.Event()
    seen: list[EncodedFrame] = []

    def on_frame(frame: EncodedFrame) -> None:
        if not first:
            first.append(camera.stats.frames_dropped)
        seen.append(frame)
        if len(seen) >= 12:
            done.set()

    camera = SimCamera(
        vehicle_id="v1",
        pose=make_pose(clock),
        clock=clock,
        config=config,
        ground=ground,
        on_frame=on_frame,
    )
    async with camera:
        await done.wait()
    times = [f.time_unix_us for f in seen]
    period_us = 1e6 / 15
    # Stamped with the sim time they show: on the frame grid, strictly increasing...
    assert all(b > a for a, b in itertools.pairwise(times))
    assert all(abs(t / period_us - round(t / period_us)) < 1e-3 for t in times)
    # ...and every due slot is either sent or counted as dropped: none is sent late.
    slots = round((times[-1] - times[0]) / period_us)
    assert slots == (len(seen) - 1) + (camera.stats.frames_dropped - first[0])
    assert camera.stats.frames_dropped - first[0] > len(seen)  # 30x speedup, capped at 20 fps


async def test_ffmpeg_reads_the_stream_from_the_sdp_and_sees_the_rendered_picture(
    ground: GroundTexture, udp_port_pair: int, tmp_path: Path
) -> None:
    clock = ScaledClock(speedup=1.0)
    sdp = tmp_path / "vehicle-0.sdp"
    config = CameraConfig(port=udp_port_pair, sdp_path=sdp, fps=15)
    plane = LocalTangentPlane(origin_lat_deg=POSE.lat_deg, origin_lon_deg=POSE.lon_deg)

    def read_frames() -> list[np.ndarray]:
        frames = []
        with av.open(
            str(sdp), format="sdp", options={"protocol_whitelist": "file,udp,rtp"}, timeout=10
        ) as container:
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == 5:
                    break
        return frames

    camera = SimCamera(
        vehicle_id="v1",
        pose=lambda: POSE,
        clock=clock,
        config=config,
        ground=ground,
        origin=(POSE.lat_deg, POSE.lon_deg),
    )
    async with camera:
        assert f"m=video {udp_port_pair} RTP/AVP 96" in sdp.read_text()
        frames = await asyncio.to_thread(read_frames)
    expected = FrameRenderer(ground=ground, plane=plane).render(POSE)
    decoded = frames[-1]
    assert decoded.shape == (480, 640, 3)
    below_text = slice(40, None)  # the burned-in time differs frame to frame
    diff = np.abs(decoded[below_text].astype(int) - expected[below_text].astype(int))
    assert diff.mean() < 6  # lossy H.264, same picture
    assert decoded[:20, :200].mean() != pytest.approx(expected[:20, :200].mean(), abs=1)


def test_camera_errors_are_simulator_errors_the_cli_prints_as_one_line() -> None:
    from sitl import SitlError

    assert issubclass(CameraConfigError, SitlError)
