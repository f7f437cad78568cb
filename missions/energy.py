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

import math
from dataclasses import dataclass

import numpy as np

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


def estimate_flight(plan: PatrolPlan, model: EnergyModel | None = None) -> FlightEstimate:
    """Time and energy of flying `plan` from home, including the return home."""
    m = model or EnergyModel()
    home = plan_home(plan)
    frame = LocalFrame(home.lat_deg, home.lon_deg)
    x, y, alt = 0.0, 0.0, 0.0
    speed = m.cruise_speed_m_s
    t_total = e_total = dist_total = 0.0
    worst = 0.0
    worst_item = 0
    airborne = False
    ended = False

    def account(dt: float, de: float) -> None:
        nonlocal t_total, e_total
        t_total += dt
        e_total += de

    lat = np.array([i.lat_deg for i in plan.items], dtype=float)
    lon = np.array([i.lon_deg for i in plan.items], dtype=float)
    fixed = np.isfinite(lat) & np.isfinite(lon)
    all_x = np.zeros(len(plan.items))
    all_y = np.zeros(len(plan.items))
    all_x[fixed], all_y[fixed] = frame.to_xy(lat[fixed], lon[fixed])

    for index, item in enumerate(plan.items):
        if item.kind is ItemKind.RETURN_TO_LAUNCH:
            dist = math.hypot(x, y)
            account(*m.return_home(dist, alt))
            dist_total += dist
            ended = True
            break
        ix, iy = float(all_x[index]), float(all_y[index])
        if not airborne:
            # takeoff climbs vertically first (PX4 AUTO.TAKEOFF) then flies on
            tko_alt = item.rel_alt_m if item.kind is ItemKind.TAKEOFF else max(item.rel_alt_m, 2.5)
            account(*m.vertical(0.0, tko_alt, m.takeoff_speed_m_s))
            alt = tko_alt
            airborne = True
        horiz = math.hypot(ix - x, iy - y)
        if item.kind is ItemKind.LAND:
            account(*m.move(horiz, 0.0, speed))
            account(*m.land(alt))
            dist_total += horiz
            x, y, alt = ix, iy, 0.0
            ended = True
            worst = max(worst, e_total / 3600.0)
            break
        account(*m.move(horiz, item.rel_alt_m - alt, speed))
        dist_total += horiz
        x, y, alt = ix, iy, item.rel_alt_m
        if item.hold_s > 0:
            account(item.hold_s, m.hover_w * item.hold_s)
        if item.speed_m_s is not None:
            speed = item.speed_m_s
        _, e_ret = m.return_home(math.hypot(x, y), alt)
        with_return = (e_total + e_ret) / 3600.0
        if with_return > worst:
            worst, worst_item = with_return, index
    if not ended:
        dist = math.hypot(x, y)
        account(*m.return_home(dist, alt))
        dist_total += dist
    worst = max(worst, e_total / 3600.0)
    return FlightEstimate(
        distance_m=dist_total,
        time_s=t_total,
        energy_wh=e_total / 3600.0,
        worst_with_return_wh=worst,
        worst_item=worst_item,
        usable_wh=m.usable_wh,
    )
