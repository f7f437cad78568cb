"""Synthetic telemetry for the benches: one plausible in-flight sample, built
one way, so every bench measures the same payload (same fields set, same
encoded size) and a schema change is made here once.

Imported by the bench scripts as a sibling module (`from synthetic import …`):
they are run as `.venv/bin/python bench/<name>.py`, which puts this folder
first on the import path.
"""

from __future__ import annotations

from telemetry.sample import TelemetrySample

__all__ = ["T0_US", "synthetic_sample", "synthetic_samples"]

T0_US = 1_800_000_000_000_000  # 2027-01-15, a fixed epoch so runs are comparable
_PERIOD_US = 20_000  # 50 Hz, PX4's onboard GLOBAL_POSITION_INT rate


def synthetic_sample(vehicle: int, i: int, t_us: int | None = None) -> TelemetrySample:
    """Vehicle `vehicle`'s `i`-th sample of a straight cruise at 50 Hz.

    `t_us` stamps it with a real time instead (latency benches measure from it)."""
    return TelemetrySample(
        vehicle_id=f"v{vehicle}",
        time_unix_us=t_us if t_us is not None else T0_US + i * _PERIOD_US,
        boot_time_ms=i * _PERIOD_US // 1000,
        lat_deg=47.397742 + i * 1e-7,
        lon_deg=8.545594,
        alt_amsl_m=518.0,
        rel_alt_m=30.0,
        vn_m_s=4.0,
        ve_m_s=1.0,
        vd_m_s=0.0,
        roll_deg=1.5,
        pitch_deg=-3.0,
        heading_deg=76.0,
        battery_pct=87.0,
        battery_v=15.9,
        battery_min_left=12.0,
        gps_fix=3,
        satellites=14,
        mode="AUTO.MISSION",
        armed=True,
        landed_state="IN_AIR",
        mission_seq=3,
        mission_total=12,
        link_rate_hz=120.0,
        link_loss_pct=0.0,
    )


def synthetic_samples(n: int, vehicles: int = 50) -> list[TelemetrySample]:
    """`n` samples interleaved across `vehicles` vehicles, as a fleet streams them
    (each vehicle's samples 20 ms apart; no two share a vehicle and a time)."""
    return [synthetic_sample(k % vehicles, k // vehicles) for k in range(n)]
