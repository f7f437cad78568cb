"""A vehicle's pose, for consumers such as the simulated camera."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pose"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pose:
    """Where a vehicle is and where it points, at simulated time `time_s`."""

    lat_deg: float
    lon_deg: float
    rel_alt_m: float
    amsl_m: float
    heading_deg: float
    time_s: float
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    ground_speed_m_s: float = 0.0
