"""PX4's failsafes for one vehicle: battery levels (COM_LOW_BAT_ACT), data
link loss (COM_DL_LOSS_T, NAV_DLL_ACT), geofence (GF_ACTION with
GF_MAX_HOR_DIST, GF_MAX_VER_DIST and an uploaded fence), and loss of global
position. Checked at 10 Hz of ticks; the actions go through
`SimVehicle.enter_failsafe`.

Data-link loss needs the ground station's heartbeat to be missing for
COM_DL_LOSS_T *simulated* seconds and for 3 *wall* seconds: a client
heartbeats at 1 Hz of wall time, which at --speedup 20 is only every 20
simulated seconds, and must not count as lost.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from sitl.geofence import inside_fence
from sitl.mission import MissionType
from sitl.modes import FlightMode

if TYPE_CHECKING:
    from sitl.vehicle import SimVehicle

__all__ = ["Failsafes"]

WALL_LINK_GRACE_S = 3.0
# MAV_SEVERITY
_EMERGENCY, _CRITICAL, _WARNING, _INFO = 0, 2, 4, 6


class Failsafes:
    """Failsafe state of one vehicle (latched levels, link timing)."""

    def __init__(self, vehicle: SimVehicle) -> None:
        self._v = vehicle
        self.battery_level = 0  # 0 ok, 1 low, 2 critical, 3 emergency
        self.link_lost = False
        self._fence_breached = False
        self._gcs_seen = False
        self._gcs_hb_sim_s = 0.0
        self._gcs_hb_wall_s = 0.0

    def gcs_heartbeat(self) -> None:
        """A ground station's HEARTBEAT arrived."""
        self._gcs_seen = True
        self._gcs_hb_sim_s = self._v.now_s()
        self._gcs_hb_wall_s = time.monotonic()
        if self.link_lost:
            self.link_lost = False
            self._v.statustext("Data link regained", _INFO)

    def check(self, now: float) -> None:
        v = self._v
        self._check_battery()
        self._check_link(now)
        self._check_fence()
        if not v.gps_ok and v.armed and v.in_air() and v.mode is not FlightMode.AUTO_LAND:
            v.enter_failsafe("no global position", FlightMode.AUTO_LAND)

    def _check_battery(self) -> None:
        v = self._v
        p = v.params
        soc = v.battery_pct() / 100.0
        if soc <= 0.0 and v.armed:
            v.statustext("Battery depleted, motors stopped", _EMERGENCY)
            v.disarm("battery depletion", forced=True)
            return
        level = 0
        if soc < p.clamped("BAT_EMERGEN_THR"):
            level = 3
        elif soc < p.clamped("BAT_CRIT_THR"):
            level = 2
        elif soc < p.clamped("BAT_LOW_THR"):
            level = 1
        if level <= self.battery_level:
            if not v.armed and soc > p.clamped("BAT_LOW_THR") + 0.05:
                self.battery_level = 0  # recharged
            return
        self.battery_level = level
        action = int(p["COM_LOW_BAT_ACT"])
        if level == 1:
            v.statustext("Low battery level, return advised", _WARNING)
        elif level == 2:
            v.statustext("Critical battery level", _CRITICAL)
            mode = {2: FlightMode.AUTO_LAND, 3: FlightMode.AUTO_RTL}.get(action)
            if mode is not None:
                v.enter_failsafe("critical battery", mode)
        else:
            v.statustext("Emergency battery level, land now", _EMERGENCY)
            if action in (2, 3):
                v.enter_failsafe("emergency battery", FlightMode.AUTO_LAND)

    def _check_link(self, now: float) -> None:
        v = self._v
        if not self._gcs_seen or self.link_lost:
            return
        if now - self._gcs_hb_sim_s <= v.params.clamped("COM_DL_LOSS_T"):
            return
        if time.monotonic() - self._gcs_hb_wall_s <= WALL_LINK_GRACE_S:
            return
        self.link_lost = True
        v.statustext("Connection to ground station lost", _CRITICAL)
        action = int(v.params["NAV_DLL_ACT"])
        if action == 0:
            return
        modes = {1: FlightMode.AUTO_LOITER, 2: FlightMode.AUTO_RTL, 3: FlightMode.AUTO_LAND}
        v.enter_failsafe("data link lost", modes.get(action), terminate=action in (5, 6))

    def fence_breach(self) -> str | None:
        """Why the vehicle is outside its geofence, or None when inside."""
        v = self._v
        p = v.params
        phys = v._phys
        home = phys.home[v.index]
        pos = phys.pos[v.index]
        max_h = p["GF_MAX_HOR_DIST"]
        if max_h > 0 and math.hypot(float(pos[0] - home[0]), float(pos[1] - home[1])) > max_h:
            return "maximum distance from home exceeded"
        max_v = p["GF_MAX_VER_DIST"]
        if max_v > 0 and v.alt_m() > max_v:
            return "maximum altitude exceeded"
        fence = v.mission.items[MissionType.FENCE]
        if fence:
            here = phys.global_to_ned(*v.position())
            if not inside_fence(fence, here, phys.global_to_ned):
                return "geofence breached"
        return None

    def _check_fence(self) -> None:
        v = self._v
        if not (v.armed and v.in_air()):
            self._fence_breached = False
            return
        reason = self.fence_breach()
        if reason is None:
            self._fence_breached = False
            return
        if self._fence_breached:
            return
        self._fence_breached = True
        action = int(v.params["GF_ACTION"])
        if action == 0:
            return
        v.statustext(f"Geofence: {reason}", _CRITICAL)
        if action == 1:
            return
        modes = {2: FlightMode.AUTO_LOITER, 3: FlightMode.AUTO_RTL, 5: FlightMode.AUTO_LAND}
        v.enter_failsafe(reason, modes.get(action), terminate=action == 4)
