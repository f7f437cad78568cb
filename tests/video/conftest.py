"""Video fixtures: free UDP ports, a shared ground texture, a stand-in moving pose.

The camera's input is a pose; until a test needs the whole simulator, a pose
that moves along a straight line at a constant speed is the honest stand-in.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable

import pytest

from sitl.camera import CameraClock, CameraPose, GroundTexture


def free_udp_port_pair() -> int:
    """An even UDP port P with P+1 free too (FFmpeg's SDP reader also binds P+1 for RTCP)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port % 2 or port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no free UDP port pair on 127.0.0.1")


@pytest.fixture
def udp_port_pair() -> int:
    return free_udp_port_pair()


@pytest.fixture(scope="session")
def ground() -> GroundTexture:
    """A small ground (512 px at 0.5 m) so tests do not pay for the full 2048 px one."""
    return GroundTexture.generate(seed=3, size_px=512, m_per_px=0.5)


def moving_pose(
    clock: CameraClock, *, speed_m_s: float = 8.0, heading_deg: float = 45.0
) -> Callable[[], CameraPose]:
    """A vehicle flying straight at 60 m along `heading_deg`, positioned by the sim clock."""
    t0 = clock.time_unix_s()
    lat0, lon0 = 47.397742, 8.545594

    def pose() -> CameraPose:
        d = (clock.time_unix_s() - t0) * speed_m_s
        north = d * math.cos(math.radians(heading_deg))
        east = d * math.sin(math.radians(heading_deg))
        return CameraPose(
            lat_deg=lat0 + math.degrees(north / 6_378_137.0),
            lon_deg=lon0 + math.degrees(east / (6_378_137.0 * math.cos(math.radians(lat0)))),
            rel_alt_m=60.0,
            heading_deg=heading_deg,
        )

    return pose


@pytest.fixture
def make_pose() -> Callable[..., Callable[[], CameraPose]]:
    return moving_pose
