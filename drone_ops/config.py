"""The controller's configuration: one frozen tree, defaults that fly, TOML to override.

Two clocks. Link timers are wall seconds: heartbeats come at 1 Hz of wall
time from PX4 and from the simulator at any speedup, and MAVSDK's retries are
wall-clock too (connect, command ack, upload, heartbeat loss, preflight
heartbeat age). Waits on flight events are vehicle seconds (take-off,
landing, link recovery): a simulator running K times faster than real time
makes them K times shorter on the wall clock, so `ControllerConfig.wall_s`
divides them by `speedup`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Self

from drone_ops.errors import DroneOpsError

__all__ = [
    "ConfigError",
    "ControllerConfig",
    "LinkConfig",
    "PreflightConfig",
    "SafetyConfig",
    "TimeoutsConfig",
    "load_config",
]


class ConfigError(DroneOpsError):
    """The configuration file or a value in it is wrong."""


def _positive(owner: object) -> None:
    for f in fields(owner):  # type: ignore[arg-type]
        value = getattr(owner, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not (math.isfinite(value) and value > 0):
            name = type(owner).__name__
            raise ConfigError(f"{name}.{f.name} = {value!r}: must be a positive number")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeoutsConfig:
    """How long to wait for the vehicle before giving up."""

    # wall seconds
    connect_s: float = 15.0  # first heartbeat and MAVSDK discovery
    command_ack_s: float = 5.0  # COMMAND_ACK of one command (MAVSDK retries inside)
    mission_upload_s: float = 20.0  # a mission/fence/rally transfer with no progress this long
    heartbeat_loss_s: float = 3.0  # no heartbeat this long: link LOST (PX4 COM_DL_LOSS_T: 10 s)
    # vehicle seconds
    link_recovery_s: float = 300.0  # a sortie waits this long for a lost link to come back
    state_change_s: float = 60.0  # take-off after the mission start

    def __post_init__(self) -> None:
        _positive(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreflightConfig:
    """Thresholds a vehicle must meet before a sortie is armed."""

    min_satellites: int = 8
    min_gps_fix: int = 3  # MAVLink GPS_FIX_TYPE: 3 = 3D
    battery_reserve_pct: float = 20.0  # on top of the plan's estimated need
    max_heartbeat_age_s: float = 2.5  # wall seconds

    def __post_init__(self) -> None:
        _positive(self)
        if self.battery_reserve_pct >= 100:
            raise ConfigError("preflight.battery_reserve_pct must be below 100")


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyConfig:
    """Limits every command that moves a vehicle is checked against before it is sent."""

    altitude_ceiling_m: float = 120.0  # above home (EU open category)
    min_battery_pct_to_move: float = 15.0  # below this only RTL, land and hold are sent

    def __post_init__(self) -> None:
        _positive(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkConfig:
    """Telemetry decimation and state fan-out."""

    state_interval_s: float = 0.1  # VehicleState published to subscribers at most this often
    sample_interval_s: float = 0.2  # TelemetrySample produced at most this often per vehicle
    statustext_keep: int = 20  # recent vehicle messages kept for error reasons

    def __post_init__(self) -> None:
        _positive(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerConfig:
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    preflight: PreflightConfig = field(default_factory=PreflightConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    speedup: float = 1.0  # vehicle seconds per wall second (simulators run faster)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speedup) and self.speedup > 0):
            raise ConfigError(f"speedup {self.speedup!r} must be a positive number")

    def scaled(self, speedup: float) -> Self:
        """The same configuration for vehicles whose clock runs `speedup` times faster."""
        return replace(self, speedup=speedup)

    def wall_s(self, vehicle_s: float) -> float:
        """A vehicle-side duration on the wall clock."""
        return vehicle_s / self.speedup


_SECTIONS: dict[str, type[Any]] = {
    "timeouts": TimeoutsConfig,
    "preflight": PreflightConfig,
    "safety": SafetyConfig,
    "link": LinkConfig,
}


def _section(name: str, cls: type[Any], table: object) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"[{name}] has unknown keys {unknown}; known: {sorted(known)}")
    try:
        return cls(**table)
    except TypeError as exc:
        raise ConfigError(f"[{name}]: {exc}") from exc


def load_config(path: str | Path) -> ControllerConfig:
    """Read a TOML file whose tables ([timeouts], [preflight], …) override the defaults."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {p} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(_SECTIONS) - {"speedup"})
    if unknown:
        raise ConfigError(f"config {p}: unknown tables {unknown}; known: {sorted(_SECTIONS)}")
    parts = {
        name: _section(name, cls, data[name]) for name, cls in _SECTIONS.items() if name in data
    }
    speedup = data.get("speedup", 1.0)
    if not isinstance(speedup, (int, float)):
        raise ConfigError(f"config {p}: speedup must be a number")
    return ControllerConfig(speedup=float(speedup), **parts)
