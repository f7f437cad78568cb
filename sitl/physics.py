"""Flight dynamics and energy of the whole fleet, vectorised with numpy.

One `FleetPhysics.step()` advances every vehicle at once: a multirotor point
mass that tracks a position setpoint under PX4-like limits (horizontal cruise
speed and acceleration, climb and descent rates, yaw rate), pushed by wind,
standing on flat ground at its home altitude. Per-vehicle Python (modes,
missions, failsafes) only moves setpoints; the arithmetic stays in arrays, so
100 vehicles cost little more than one.

The energy model is the one published in docs/design-notes.md, shared with
the planner in `missions` (numbers, not code): 74 Wh usable; 190 W hover
+ 1.5 W·s²/m² × airspeed² + 35 W per m/s of climb; 15 W armed on the ground;
recharging at 150 W when landed, disarmed and within 5 m of home.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "BATTERY_WH",
    "EARTH_RADIUS_M",
    "FleetPhysics",
    "battery_voltage_v",
    "flight_power_w",
]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

EARTH_RADIUS_M = 6371000.0
GRAVITY_M_S2 = 9.80665
BATTERY_WH = 74.0
HOVER_W = 190.0
DRAG_W_S2_M2 = 1.5
CLIMB_W_PER_M_S = 35.0
ARMED_GROUND_W = 15.0
CHARGE_W = 150.0
CHARGE_RADIUS_M = 5.0
# Open-circuit voltage of the 4S pack against state of charge: linear between
# 14.0 and 16.4 V, steeper at both ends (16.8 V full, 13.2 V empty).
_SOC_POINTS = np.array([0.0, 0.05, 0.95, 1.0])
_VOLT_POINTS = np.array([13.2, 14.0, 16.4, 16.8])
_MAX_SUBSTEP_S = 0.05
_VERT_ACC_M_S2 = 3.0
_DRAG_PER_S = 0.25  # horizontal drag per unit airspeed, sets the tilt against wind
_GROUND_EPS_M = 0.02


def flight_power_w(airspeed_m_s: float, climb_m_s: float) -> float:
    """Electrical power in flight (the shared model, for tests and planners)."""
    return HOVER_W + DRAG_W_S2_M2 * airspeed_m_s**2 + CLIMB_W_PER_M_S * max(climb_m_s, 0.0)


def battery_voltage_v(soc: F64 | float) -> F64:
    result: F64 = np.asarray(np.interp(soc, _SOC_POINTS, _VOLT_POINTS), dtype=np.float64)
    return result


class FleetPhysics:
    """State arrays for N vehicles in one local NED frame (metres, from the
    fleet origin at ground level; down is positive)."""

    def __init__(
        self,
        *,
        count: int,
        origin: tuple[float, float, float],
        wind_speed_m_s: float,
        wind_from_deg: float,
        seed: int,
    ) -> None:
        n = count
        self.count = n
        self.lat0_deg, self.lon0_deg, self.ground_amsl_m = origin
        self._m_per_deg_lat = math.radians(1.0) * EARTH_RADIUS_M
        self._m_per_deg_lon = self._m_per_deg_lat * math.cos(math.radians(self.lat0_deg))
        self.rng = np.random.default_rng(seed)
        # Kinematic state.
        self.pos = np.zeros((n, 3))
        self.vel = np.zeros((n, 3))
        self.acc = np.zeros((n, 3))
        self.yaw = np.zeros(n)
        self.yaw_rate = np.zeros(n)
        self.roll = np.zeros(n)
        self.pitch = np.zeros(n)
        # Setpoints and limits (set by each vehicle's navigator).
        self.target = np.zeros((n, 3))
        self.target_yaw = np.full(n, np.nan)
        self.cruise_m_s = np.full(n, 5.0)
        self.acc_h_m_s2 = np.full(n, 3.0)
        self.up_m_s = np.full(n, 3.0)
        self.down_m_s = np.full(n, 1.5)
        self.land_m_s = np.full(n, 0.7)
        self.land_alt1_m = np.full(n, 10.0)
        self.yaw_rate_max = np.full(n, math.radians(45.0))
        self.vert_acc_m_s2 = np.full(n, _VERT_ACC_M_S2)
        self.landing = np.zeros(n, dtype=bool)
        self.flying = np.zeros(n, dtype=bool)  # motors producing lift
        self.armed = np.zeros(n, dtype=bool)
        self.home = np.zeros((n, 3))
        # Energy.
        self.energy_wh = np.full(n, BATTERY_WH)
        self.power_w = np.zeros(n)
        self.consumed_wh = np.zeros(n)
        # Wind: meteorological direction (blowing from), plus a slow gust per vehicle.
        w = math.radians(wind_from_deg)
        self.wind_ne = np.array([-wind_speed_m_s * math.cos(w), -wind_speed_m_s * math.sin(w)])
        self._gust_sigma = 0.15 * wind_speed_m_s
        self.gust_ne = np.zeros((n, 2))

    # ------------------------------------------------------------ geodesy
    def ned_to_global(self, north_m: float, east_m: float) -> tuple[float, float]:
        return (
            self.lat0_deg + north_m / self._m_per_deg_lat,
            self.lon0_deg + east_m / self._m_per_deg_lon,
        )

    def global_to_ned(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        return (
            (lat_deg - self.lat0_deg) * self._m_per_deg_lat,
            (lon_deg - self.lon0_deg) * self._m_per_deg_lon,
        )

    # ------------------------------------------------------------ queries
    def alt_m(self, i: int) -> float:
        """Height above ground (the fleet stands on flat ground)."""
        return float(-self.pos[i, 2])

    def on_ground(self) -> B:
        result: B = -self.pos[:, 2] <= _GROUND_EPS_M
        return result

    def soc(self) -> F64:
        result: F64 = self.energy_wh / BATTERY_WH
        return result

    def airspeed_ne(self) -> F64:
        result: F64 = self.vel[:, :2] - (self.wind_ne + self.gust_ne)
        return result

    # ------------------------------------------------------------ dynamics
    def step(self, dt_s: float) -> None:
        """Advance every vehicle by `dt_s` simulated seconds."""
        steps = max(1, math.ceil(dt_s / _MAX_SUBSTEP_S))
        if not (self.flying.any() or self.armed.any() or self.vel.any()):
            steps = 1  # everything parked: only charging changes, linearly (exact in one step)
        h = dt_s / steps
        for _ in range(steps):
            self._substep(h)

    def _substep(self, h: float) -> None:
        pos, vel = self.pos, self.vel
        flying = self.flying
        # Horizontal: speed toward the setpoint, braking so it stops on it.
        err = self.target - pos
        dist_h = np.hypot(err[:, 0], err[:, 1])
        brake = np.sqrt(2.0 * 0.5 * self.acc_h_m_s2 * dist_h)
        speed = np.minimum(self.cruise_m_s, brake)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(dist_h > 1e-3, speed / dist_h, 0.0)
        v_des_h = err[:, :2] * scale[:, None]
        # Vertical (NED, + down): braking law toward the setpoint altitude,
        # or a steady descent while landing (slower below MPC_LAND_ALT1).
        alt = -pos[:, 2]
        vert_acc = self.vert_acc_m_s2
        vz_brake = np.sqrt(2.0 * 0.5 * vert_acc * np.abs(err[:, 2]))
        vz_des = np.sign(err[:, 2]) * vz_brake
        vz_des = np.clip(vz_des, -self.up_m_s, self.down_m_s)
        land_rate = np.where(alt > self.land_alt1_m, self.down_m_s, self.land_m_s)
        vz_des = np.where(self.landing, land_rate, vz_des)
        # Acceleration limits.
        dv_h = v_des_h - vel[:, :2]
        dv_h_norm = np.hypot(dv_h[:, 0], dv_h[:, 1])
        max_dv = self.acc_h_m_s2 * h
        with np.errstate(invalid="ignore", divide="ignore"):
            lim = np.where(dv_h_norm > max_dv, max_dv / dv_h_norm, 1.0)
        dv_h = dv_h * lim[:, None]
        dv_z = np.clip(vz_des - vel[:, 2], -vert_acc * h, vert_acc * h)
        dv = np.column_stack((dv_h, dv_z))
        # Motors off: on the ground it stands still; in the air it falls.
        idle = ~flying
        dv[idle, :2] = -vel[idle, :2]
        dv[idle, 2] = np.where(alt[idle] > 0.0, GRAVITY_M_S2 * h, -vel[idle, 2])
        self.acc = dv / h
        vel += dv
        # Wind pushes a flying vehicle a little off its track (the position
        # controller takes it back through the braking law above).
        if self._gust_sigma > 0:
            self.gust_ne += (-0.1 * self.gust_ne * h) + self.rng.normal(
                0.0, self._gust_sigma * math.sqrt(0.2 * h), self.gust_ne.shape
            )
            vel[flying, :2] += 0.02 * self.gust_ne[flying] * h
        pos += vel * h
        # The ground.
        below = pos[:, 2] > 0.0
        pos[below, 2] = 0.0
        vel[below, 2] = np.minimum(vel[below, 2], 0.0)
        # Yaw: toward travel, or the commanded heading, rate limited.
        speed_h = np.hypot(vel[:, 0], vel[:, 1])
        travel = np.arctan2(vel[:, 1], vel[:, 0])
        want = np.where(
            np.isfinite(self.target_yaw),
            self.target_yaw,
            np.where(speed_h > 1.0, travel, self.yaw),
        )
        dyaw = (want - self.yaw + math.pi) % (2 * math.pi) - math.pi
        max_dyaw = self.yaw_rate_max * h
        dyaw = np.clip(dyaw, -max_dyaw, max_dyaw)
        dyaw[~flying] = 0.0
        self.yaw = (self.yaw + dyaw + math.pi) % (2 * math.pi) - math.pi
        self.yaw_rate = dyaw / h
        # Attitude: tilt that produces the acceleration and holds against drag.
        air = self.airspeed_ne()
        tilt_n = (self.acc[:, 0] + _DRAG_PER_S * air[:, 0]) / GRAVITY_M_S2
        tilt_e = (self.acc[:, 1] + _DRAG_PER_S * air[:, 1]) / GRAVITY_M_S2
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        fwd = tilt_n * c + tilt_e * s
        right = -tilt_n * s + tilt_e * c
        self.pitch = np.where(flying & (alt > 0.05), -np.arctan(fwd), 0.0)
        self.roll = np.where(flying & (alt > 0.05), np.arctan(right), 0.0)
        # Energy.
        air_sq = air[:, 0] ** 2 + air[:, 1] ** 2
        climb = np.maximum(-vel[:, 2], 0.0)
        airborne = alt > _GROUND_EPS_M
        power = np.where(
            self.armed,
            np.where(
                airborne | flying & (vz_des < 0),
                HOVER_W + DRAG_W_S2_M2 * air_sq + CLIMB_W_PER_M_S * climb,
                ARMED_GROUND_W,
            ),
            0.0,
        )
        near_home = np.hypot(pos[:, 0] - self.home[:, 0], pos[:, 1] - self.home[:, 1])
        charging = ~self.armed & ~airborne & (near_home <= CHARGE_RADIUS_M)
        power = np.where(charging, -CHARGE_W, power)
        self.power_w = power
        used = power * h / 3600.0
        self.consumed_wh += np.maximum(used, 0.0)
        np.clip(self.energy_wh - used, 0.0, BATTERY_WH, out=self.energy_wh)
