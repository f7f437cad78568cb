"""Energy and time of a plan, from the simulated quadrotor's model.

The numbers are the shared ones in docs/design-notes.md (the simulator
implements the same): hover 190 W, + 1.5 W·s²/m² · v², + 35 W per m/s of
climb, 74 Wh usable, 20 % reserve. Flight speeds default to PX4's SITL
parameters (MPC_XY_CRUISE 5, MPC_TKO_SPEED 1.5, MPC_Z_VEL_MAX_UP 3,
MPC_Z_VEL_MAX_DN 1.5, MPC_LAND_SPEED 0.7, RTL_RETURN_ALT 30,
RTL_DESCEND_ALT 10).

Feasibility includes the return: for every point of the plan, the energy to
get there plus the energy to return home from there must fit in the usable
capacity (capacity minus reserve).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from missions.geo import LocalFrame
from missions.plan import Home, ItemKind, PatrolPlan

__all__ = ["EnergyModel", "FlightEstimate", "estimate_flight", "plan_home"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyModel:
    """Multirotor power model and flight parameters (defaults: the simulated quad)."""

    hover_w: float = 190.0
    drag_w_per_m2_s2: float = 1.5
    climb_w_per_m_s: float = 35.0
    ground_armed_w: float = 15.0
    capacity_wh: float = 74.0
    reserve_fraction: float = 0.20
    cruise_speed_m_s: float = 5.0
    takeoff_speed_m_s: float = 1.5
    climb_speed_m_s: float = 3.0
    descent_speed_m_s: float = 1.5
    land_speed_m_s: float = 0.7
    rtl_return_alt_m: float = 30.0
    rtl_descend_alt_m: float = 10.0
    land_slow_alt_m: float = 10.0

    @property
    def usable_wh(self) -> float:
        return self.capacity_wh * (1.0 - self.reserve_fraction)

    def cruise_power_w(self, speed_m_s: float, climb_m_s: float = 0.0) -> float:
        return (
            self.hover_w
            + self.drag_w_per_m2_s2 * speed_m_s**2
            + self.climb_w_per_m_s * max(0.0, climb_m_s)
        )

    def move(self, horiz_m: float, d_alt_m: float, speed_m_s: float) -> tuple[float, float]:
        """(seconds, joules) to fly a straight leg, horizontal speed limited by vertical."""
        vz_max = self.climb_speed_m_s if d_alt_m > 0 else self.descent_speed_m_s
        t_h = horiz_m / speed_m_s if horiz_m > 0 else 0.0
        t_v = abs(d_alt_m) / vz_max if d_alt_m else 0.0
        t = max(t_h, t_v)
        if t <= 0.0:
            return 0.0, 0.0
        v_h = horiz_m / t
        climb = d_alt_m / t if d_alt_m > 0 else 0.0
        return t, self.cruise_power_w(v_h, climb) * t

    def vertical(self, from_alt_m: float, to_alt_m: float, speed_m_s: float) -> tuple[float, float]:
        d = to_alt_m - from_alt_m
        if d == 0:
            return 0.0, 0.0
        t = abs(d) / speed_m_s
        climb = speed_m_s if d > 0 else 0.0
        return t, self.cruise_power_w(0.0, climb) * t

    def land(self, alt_m: float) -> tuple[float, float]:
        """Descent at descent speed down to `land_slow_alt_m`, then land speed."""
        fast = max(0.0, alt_m - self.land_slow_alt_m)
        slow = alt_m - fast
        t1, e1 = self.vertical(alt_m, alt_m - fast, self.descent_speed_m_s)
        t2, e2 = self.vertical(slow, 0.0, self.land_speed_m_s)
        return t1 + t2, e1 + e2

    def return_home(self, dist_m: float, alt_m: float) -> tuple[float, float]:
        """PX4 RTL: climb to the return altitude, fly home, descend, land."""
        t, e = 0.0, 0.0
        cruise_alt = max(alt_m, self.rtl_return_alt_m)
        dt, de = self.vertical(alt_m, cruise_alt, self.climb_speed_m_s)
        t, e = t + dt, e + de
        dt, de = self.move(dist_m, 0.0, self.cruise_speed_m_s)
        t, e = t + dt, e + de
        dt, de = self.land(cruise_alt)
        return t + dt, e + de


@dataclass(frozen=True, slots=True, kw_only=True)
class FlightEstimate:
    """Whole-sortie figures, return home included."""

    distance_m: float
    time_s: float
    energy_wh: float
    worst_with_return_wh: float
    worst_item: int
    usable_wh: float

    @property
    def feasible(self) -> bool:
        return self.worst_with_return_wh <= self.usable_wh

    @property
    def margin_wh(self) -> float:
        return self.usable_wh - self.worst_with_return_wh


def plan_home(plan: PatrolPlan) -> Home:
    """The planned home, else the first positioned item (where a takeoff starts)."""
    if plan.home is not None:
        return plan.home
    for item in plan.items:
        if item.kind is not ItemKind.RETURN_TO_LAUNCH:
            return Home(lat_deg=item.lat_deg, lon_deg=item.lon_deg)
    raise ValueError("plan has no positioned item")  # pragma: no cover - PatrolPlan forbids


def _vertical_np(
    m: EnergyModel, d_alt: NDArray[np.float64], speed: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = np.abs(d_alt) / speed
    power = m.hover_w + np.where(d_alt > 0, m.climb_w_per_m_s * speed, 0.0)
    return t, power * t


def _land_np(
    m: EnergyModel, alt: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    fast = np.maximum(0.0, alt - m.land_slow_alt_m)
    t = fast / m.descent_speed_m_s + (alt - fast) / m.land_speed_m_s
    return t, m.hover_w * t


def _return_np(
    m: EnergyModel, dist: NDArray[np.float64], alt: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Vectorised `EnergyModel.return_home`."""
    cruise_alt = np.maximum(alt, m.rtl_return_alt_m)
    t1, e1 = _vertical_np(m, cruise_alt - alt, m.climb_speed_m_s)
    t2 = dist / m.cruise_speed_m_s
    e2 = m.cruise_power_w(m.cruise_speed_m_s) * t2
    t3, e3 = _land_np(m, cruise_alt)
    return t1 + t2 + t3, e1 + e2 + e3


def _move_np(
    m: EnergyModel,
    horiz: NDArray[np.float64],
    d_alt: NDArray[np.float64],
    speed: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Vectorised `EnergyModel.move`."""
    vz_max = np.where(d_alt > 0, m.climb_speed_m_s, m.descent_speed_m_s)
    t = np.maximum(horiz / speed, np.abs(d_alt) / vz_max)
    safe_t = np.where(t > 0, t, 1.0)
    v_h = horiz / safe_t
    climb = np.where(d_alt > 0, d_alt / safe_t, 0.0)
    power = m.hover_w + m.drag_w_per_m2_s2 * v_h**2 + m.climb_w_per_m_s * climb
    return t, np.where(t > 0, power * t, 0.0)


def estimate_flight(plan: PatrolPlan, model: EnergyModel | None = None) -> FlightEstimate:
    """Time and energy of flying `plan` from home, including the return home.

    PX4's order of events: climb vertically at home to the first item's
    altitude (AUTO.TAKEOFF), fly each leg at the speed in force (set by the
    items before it), hold, and at RTL (or after the last item) climb to the
    return altitude, fly home and land. LAND ends the flight where it is.
    """
    m = model or EnergyModel()
    home = plan_home(plan)
    frame = LocalFrame(home.lat_deg, home.lon_deg)
    items = plan.items
    stop = next(
        (k for k, i in enumerate(items) if i.kind in (ItemKind.RETURN_TO_LAUNCH, ItemKind.LAND)),
        len(items),
    )
    lands = stop < len(items) and items[stop].kind is ItemKind.LAND
    flown = items[: stop + 1] if lands else items[:stop]
    if not flown:  # RTL straight away: nothing is flown
        return FlightEstimate(
            distance_m=0.0,
            time_s=0.0,
            energy_wh=0.0,
            worst_with_return_wh=0.0,
            worst_item=0,
            usable_wh=m.usable_wh,
        )
    lat = np.array([i.lat_deg for i in flown], dtype=float)
    lon = np.array([i.lon_deg for i in flown], dtype=float)
    x, y = frame.to_xy(lat, lon)
    alt = np.array([i.rel_alt_m for i in flown], dtype=float)
    hold = np.array([i.hold_s for i in flown], dtype=float)
    speed = np.empty(len(flown))
    current = m.cruise_speed_m_s
    for k, item in enumerate(flown):  # speed set by an item holds from the next leg on
        speed[k] = current
        if item.speed_m_s is not None:
            current = item.speed_m_s
    first = flown[0]
    tko_alt = first.rel_alt_m if first.kind is ItemKind.TAKEOFF else max(first.rel_alt_m, 2.5)
    t_tko, e_tko = m.vertical(0.0, tko_alt, m.takeoff_speed_m_s)
    prev_x = np.concatenate([[0.0], x[:-1]])
    prev_y = np.concatenate([[0.0], y[:-1]])
    prev_alt = np.concatenate([[tko_alt], alt[:-1]])
    horiz = np.hypot(x - prev_x, y - prev_y)
    d_alt = alt - prev_alt
    if lands:
        d_alt[-1] = 0.0  # PX4 flies to the landing point at altitude, then descends
        alt[-1] = prev_alt[-1]
    t_leg, e_leg = _move_np(m, horiz, d_alt, speed)
    t_leg = t_leg + hold
    e_leg = e_leg + m.hover_w * hold
    e_cum = e_tko + np.cumsum(e_leg)
    t_cum = t_tko + np.cumsum(t_leg)
    t_ret, e_ret = _return_np(m, np.hypot(x, y), alt)
    if lands:
        t_end, e_end = m.land(float(alt[-1]))
        with_return = e_cum + e_ret
        with_return[-1] = e_cum[-1] + e_end
        extra_dist = 0.0
    else:
        t_end, e_end = float(t_ret[-1]), float(e_ret[-1])
        with_return = e_cum + e_ret
        extra_dist = float(np.hypot(x[-1], y[-1]))
    worst_k = int(np.argmax(with_return))
    return FlightEstimate(
        distance_m=float(horiz.sum()) + extra_dist,
        time_s=float(t_cum[-1]) + t_end,
        energy_wh=(float(e_cum[-1]) + e_end) / 3600.0,
        worst_with_return_wh=float(with_return[worst_k]) / 3600.0,
        worst_item=worst_k,
        usable_wh=m.usable_wh,
    )
