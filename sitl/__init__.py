"""PX4-compatible simulated vehicles and the real PX4 SITL launcher.

from sitl import SimConfig, SimFleet, free_vehicle_ports

async with SimFleet(SimConfig(count=2, speedup=10, ports=free_vehicle_ports(2))) as fleet:
    vehicle = fleet.vehicles[0]
    vehicle.pose(), vehicle.battery_pct(), fleet.clock.time_s()
"""

from sitl.clock import SimClock
from sitl.config import DEFAULT_HOME, SimConfig, VehiclePorts, free_vehicle_ports
from sitl.errors import Px4NotFoundError, SimConfigError, SimPortInUseError, SitlError
from sitl.fleet import SimFleet
from sitl.modes import FlightMode, LandedState
from sitl.pose import Pose
from sitl.px4 import Px4Sitl, find_px4_binary
from sitl.vehicle import SimVehicle

__all__ = [
    "DEFAULT_HOME",
    "FlightMode",
    "LandedState",
    "Pose",
    "Px4NotFoundError",
    "Px4Sitl",
    "SimClock",
    "SimConfig",
    "SimConfigError",
    "SimFleet",
    "SimPortInUseError",
    "SimVehicle",
    "SitlError",
    "VehiclePorts",
    "find_px4_binary",
    "free_vehicle_ports",
]
