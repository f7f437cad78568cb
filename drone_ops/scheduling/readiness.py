"""Which vehicle may fly a scheduled run: preconditions and rotation.

Pure functions over `VehicleState` snapshots, so the rules are tested without
a vehicle. Rotation is by charge, then rest: of the vehicles that meet the schedule's
preconditions and have the energy for the plan, the fullest flies (charge
compared in 5 % steps), and among equally charged ones the one that has
rested longest, so a dock fleet whose batteries recharge at home takes turns.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from drone_ops.geofence import distance_m
from drone_ops.link.policy import LinkState
from drone_ops.schedule import Preconditions, Schedule
from drone_ops.state import VehicleState

__all__ = ["Selection", "not_ready_reason", "select_vehicle"]


def not_ready_reason(
    state: VehicleState,
    pre: Preconditions,
    *,
    busy: bool = False,
    need_pct: float = 0.0,
    reserve_pct: float = 20.0,
) -> str | None:
    """Why this vehicle may not fly the run now, or None if it may."""
    if state.link is not LinkState.CONNECTED:
        return f"link {state.link.value}"
    if busy:
        return "busy with another sortie or command"
    if pre.require_idle and (state.armed or state.in_air):
        return "not idle (armed or in the air)"
    if pre.require_healthy and state.health_ok is not True:
        failures = ", ".join(state.health_failures) or "no health report yet"
        return f"not healthy ({failures})"
    if state.battery_pct is None:
        return "battery not reported yet"
    if state.battery_pct < pre.min_battery_pct:
        return f"battery {state.battery_pct:.0f} % below the schedule's {pre.min_battery_pct:g} %"
    if need_pct > 0.0 and state.battery_pct < need_pct + reserve_pct:
        return (
            f"battery {state.battery_pct:.0f} % not enough for the plan "
            f"({need_pct:.0f} % + {reserve_pct:g} % reserve)"
        )
    if pre.require_docked:
        if state.home is None or state.lat_deg is None or state.lon_deg is None:
            return "position or home unknown: cannot tell whether it is docked"
        off = distance_m(state.lat_deg, state.lon_deg, state.home.lat_deg, state.home.lon_deg)
        if off > pre.dock_radius_m:
            return f"not docked: {off:.0f} m from home"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The chosen vehicle (or None) and why every other candidate was passed over."""

    vehicle_id: str | None
    reasons: Mapping[str, str]

    def explain(self) -> str:
        """One line: why no vehicle (or the others) could fly."""
        if not self.reasons:
            return "no vehicles known to the controller"
        return "; ".join(f"{v}: {why}" for v, why in sorted(self.reasons.items()))


def select_vehicle(
    schedule: Schedule,
    states: Mapping[str, VehicleState],
    *,
    busy: Collection[str] = (),
    need_pct: float = 0.0,
    reserve_pct: float = 20.0,
    last_flown_s: Mapping[str, float] | None = None,
) -> Selection:
    """The fullest, longest-rested ready vehicle among the schedule's candidates."""
    rested = last_flown_s or {}
    reasons: dict[str, str] = {}
    ready: list[tuple[int, float, str]] = []
    candidates = schedule.vehicles or tuple(sorted(states))
    for vehicle_id in candidates:
        state = states.get(vehicle_id)
        if state is None:
            reasons[vehicle_id] = "not connected to this controller"
            continue
        why = not_ready_reason(
            state,
            schedule.preconditions,
            busy=vehicle_id in busy,
            need_pct=need_pct,
            reserve_pct=reserve_pct,
        )
        if why is None:
            charge_step = -round((state.battery_pct or 0.0) / 5.0)
            ready.append((charge_step, rested.get(vehicle_id, float("-inf")), vehicle_id))
        else:
            reasons[vehicle_id] = why
    if not ready:
        return Selection(vehicle_id=None, reasons=reasons)
    ready.sort()
    return Selection(vehicle_id=ready[0][2], reasons=reasons)
