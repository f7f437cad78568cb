"""Preflight: is this vehicle fit to fly this plan now? A failed check names itself and value."""

from __future__ import annotations

from dataclasses import dataclass

from drone_ops.commands import VehicleError
from drone_ops.config import ControllerConfig
from drone_ops.geofence import fence_violation
from drone_ops.link.policy import LinkState
from drone_ops.state import VehicleState
from missions.energy import EnergyModel, estimate_flight
from missions.plan import ItemKind, PatrolPlan

__all__ = ["PreflightCheck", "PreflightFailed", "battery_need_pct", "run_preflight"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PreflightCheck:
    name: str  # "link", "health", "gps", "battery", "home", "geofence", "ceiling"
    ok: bool
    value: str  # what the vehicle or plan has
    need: str  # what the check requires

    def __str__(self) -> str:
        return f"{self.name}: {self.value} (need {self.need})"


class PreflightFailed(VehicleError):
    """One or more preflight checks failed; the message lists them."""

    def __init__(self, vehicle_id: str, failed: list[PreflightCheck]) -> None:
        super().__init__(vehicle_id, "preflight failed: " + "; ".join(map(str, failed)))
        self.failed = tuple(failed)


def battery_need_pct(plan: PatrolPlan, model: EnergyModel | None = None) -> float:
    """Battery the whole sortie takes (return included), per the missions energy model."""
    m = model or EnergyModel()
    return 100.0 * estimate_flight(plan, m).energy_wh / m.capacity_wh


def run_preflight(
    state: VehicleState, plan: PatrolPlan, config: ControllerConfig
) -> list[PreflightCheck]:
    """All checks, passed or not, in a stable order."""
    pf = config.preflight
    checks: list[PreflightCheck] = []

    age = state.heartbeat_age_s
    max_age = pf.max_heartbeat_age_s
    link_ok = state.link is LinkState.CONNECTED and age is not None and age <= max_age
    age_text = "no heartbeat" if age is None else f"last heartbeat {age:.1f} s ago"
    checks.append(
        PreflightCheck(
            name="link",
            ok=link_ok,
            value=f"{state.link.value}, {age_text}",
            need=f"connected, heartbeat within {max_age:.1f} s",
        )
    )

    if state.health_ok is None:
        health_value = "no SYS_STATUS received"
    elif state.health_ok:
        health_value = "all checks pass"
    else:
        health_value = "failing " + ", ".join(state.health_failures)
    checks.append(
        PreflightCheck(
            name="health", ok=bool(state.health_ok), value=health_value, need="no failing sensor"
        )
    )

    sats = state.satellites or 0
    gps_ok = int(state.gps_fix) >= pf.min_gps_fix and state.gps_fix.name != "UNKNOWN"
    gps_ok = gps_ok and sats >= pf.min_satellites
    checks.append(
        PreflightCheck(
            name="gps",
            ok=gps_ok,
            value=f"fix {state.gps_fix.name}, {sats} satellites",
            need=f"3D fix with >= {pf.min_satellites} satellites",
        )
    )

    need = battery_need_pct(plan) + pf.battery_reserve_pct
    pct = state.battery_pct
    checks.append(
        PreflightCheck(
            name="battery",
            ok=pct is not None and pct >= need,
            value="unknown" if pct is None else f"{pct:.0f} %",
            need=f">= {need:.0f} % (plan {need - pf.battery_reserve_pct:.0f} % "
            f"+ reserve {pf.battery_reserve_pct:.0f} %)",
        )
    )

    checks.append(
        PreflightCheck(
            name="home",
            ok=state.home is not None,
            value="not set"
            if state.home is None
            else f"{state.home.lat_deg:.6f}, {state.home.lon_deg:.6f}",
            need="home position set",
        )
    )

    fence_problem: str | None = None
    if not plan.fence.is_empty:
        if state.home is not None:
            why = fence_violation(plan.fence, state.home.lat_deg, state.home.lon_deg)
            if why is not None:
                fence_problem = f"home is {why}"
        for i, item in enumerate(plan.items):
            if fence_problem is not None:
                break
            if item.kind is ItemKind.RETURN_TO_LAUNCH:
                continue
            why = fence_violation(plan.fence, item.lat_deg, item.lon_deg)
            if why is not None:
                fence_problem = f"item {i + 1} ({item.kind}) is {why}"
    checks.append(
        PreflightCheck(
            name="geofence",
            ok=fence_problem is None,
            value=fence_problem or ("no fence" if plan.fence.is_empty else "home and plan inside"),
            need="home and every item inside the geofence",
        )
    )

    ceiling = config.safety.altitude_ceiling_m
    highest = max(
        (i.rel_alt_m for i in plan.items if i.kind is not ItemKind.RETURN_TO_LAUNCH), default=0.0
    )
    checks.append(
        PreflightCheck(
            name="ceiling",
            ok=highest <= ceiling,
            value=f"highest item {highest:.0f} m",
            need=f"<= {ceiling:.0f} m above home",
        )
    )
    return checks
