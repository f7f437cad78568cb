"""Fleet configuration and the PX4 SITL port convention."""

from __future__ import annotations

import math
import random
import socket
from contextlib import ExitStack
from dataclasses import dataclass, field

from sitl.errors import SimConfigError

__all__ = ["DEFAULT_HOME", "SimConfig", "VehiclePorts", "free_vehicle_ports"]

# PX4 SITL's default home (Zürich), as measured: lat, lon, AMSL metres.
DEFAULT_HOME: tuple[float, float, float] = (47.397743, 8.545594, 489.4)


# PX4's fixed SITL ports (first 100 instances): never handed out as "free".
_PX4_PORTS = frozenset(
    p for i in range(100) for p in (14540 + i, 14580 + i, 14550, 18570 + i, 5600 + i)
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VehiclePorts:
    """UDP ports of one vehicle. *remote* ports are where the vehicle sends
    (the client listens there), *local* ports are where the vehicle listens."""

    api_remote: int
    api_local: int
    gcs_remote: int
    gcs_local: int
    video: int

    def __post_init__(self) -> None:
        for name in ("api_remote", "api_local", "gcs_remote", "gcs_local", "video"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise SimConfigError(f"{name} port {port} is out of range: use 1..65535")

    @classmethod
    def px4(cls, index: int) -> VehiclePorts:
        """PX4 SITL's ports for instance `index` (0-based)."""
        if index < 0:
            raise SimConfigError(f"vehicle index {index} is negative: use 0 or more")
        return cls(
            api_remote=14540 + index,
            api_local=14580 + index,
            gcs_remote=14550,
            gcs_local=18570 + index,
            video=5600 + index,
        )


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_vehicle_ports(count: int) -> list[VehiclePorts]:
    """Ports nobody uses right now, so concurrent test runs never collide.
    Every port is distinct, including the GCS ports.

    They are drawn at random *outside* the OS's ephemeral range: a vehicle
    streams to its remote ports before any client binds them, and a port
    from the ephemeral range could meanwhile be handed to some other
    process's `bind(0)` (say, another simulator's vehicle), which would then
    receive this vehicle's telemetry and, PX4-like, be answered."""
    low, high = _ephemeral_range()
    candidates = [p for p in range(20000, 32000) if not low <= p <= high] or list(
        range(20000, 32000)
    )
    rng = random.SystemRandom()
    with ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count * 5:
            port = rng.choice(candidates)
            if port in ports or port in _PX4_PORTS:
                continue
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            ports.append(port)
    return [
        VehiclePorts(
            api_remote=ports[5 * i],
            api_local=ports[5 * i + 1],
            gcs_remote=ports[5 * i + 2],
            gcs_local=ports[5 * i + 3],
            video=ports[5 * i + 4],
        )
        for i in range(count)
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """Everything that shapes a simulated fleet.

    `stream_budget_msg_s` bounds the telemetry the whole fleet streams per
    wall second (see `sitl.streams` for how rates scale to fit it).
    """

    count: int = 1
    speedup: float = 1.0
    home: tuple[float, float, float] = DEFAULT_HOME
    wind: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    loss_pct: float = 0.0
    ports: list[VehiclePorts] | None = None
    home_spacing_m: float = 5.0
    stream_budget_msg_s: float = 8000.0
    sys_id_base: int = 1
    extra_params: dict[str, float] = field(default_factory=dict)
    # MAVLink 2 signing: one 32-byte key for every vehicle, or one per vehicle.
    signing_key: bytes | None = None
    signing_keys: list[bytes | None] | None = None

    def __post_init__(self) -> None:
        if self.signing_key is not None and len(self.signing_key) != 32:
            raise SimConfigError("--signing-key must hold a 32-byte key (64 hex digits)")
        if self.signing_keys is not None and len(self.signing_keys) != self.count:
            raise SimConfigError(
                f"{len(self.signing_keys)} signing keys given for {self.count} vehicles: "
                "give one per vehicle"
            )
        if not 1 <= self.count <= 250:
            raise SimConfigError(f"--count {self.count} is out of range: use 1..250 vehicles")
        if not (math.isfinite(self.speedup) and 0.1 <= self.speedup <= 1000):
            raise SimConfigError(f"--speedup {self.speedup} is out of range: use 0.1..1000")
        lat, lon, alt = self.home
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and -500 <= alt <= 9000):
            raise SimConfigError(
                f"--home {lat},{lon},{alt} is not a valid position: use LAT,LON,ALT_M "
                "with -90..90, -180..180, -500..9000"
            )
        speed, direction = self.wind
        if not (0 <= speed <= 30 and math.isfinite(direction)):
            raise SimConfigError(f"--wind {speed},{direction}: speed must be 0..30 m/s")
        if not 0 <= self.loss_pct < 100:
            raise SimConfigError(f"--loss {self.loss_pct} is out of range: use 0..<100 percent")
        if self.ports is not None and len(self.ports) != self.count:
            raise SimConfigError(
                f"{len(self.ports)} port sets given for {self.count} vehicles: give one per vehicle"
            )
        if self.stream_budget_msg_s < 10:
            raise SimConfigError("stream budget must be at least 10 messages per second")
        if not 1 <= self.sys_id_base <= 255 - self.count + 1:
            raise SimConfigError("system ids must fit in 1..255")

    def vehicle_signing_key(self, index: int) -> bytes | None:
        if self.signing_keys is not None:
            return self.signing_keys[index]
        return self.signing_key

    def vehicle_ports(self) -> list[VehiclePorts]:
        if self.ports is not None:
            return list(self.ports)
        return [VehiclePorts.px4(i) for i in range(self.count)]
