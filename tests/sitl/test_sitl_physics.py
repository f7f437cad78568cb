"""The vectorised dynamics and the shared energy model (docs/design-notes.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sitl.physics import (
    BATTERY_WH,
    FleetPhysics,
    battery_voltage_v,
    flight_power_w,
)


def fleet(count: int = 1, wind: tuple[float, float] = (0.0, 0.0)) -> FleetPhysics:
    return FleetPhysics(
        count=count,
        origin=(47.397743, 8.545594, 489.4),
        wind_speed_m_s=wind[0],
        wind_from_deg=wind[1],
        seed=1,
    )


def hover_at(phys: FleetPhysics, alt_m: float) -> None:
    phys.armed[:] = True
    phys.flying[:] = True
    phys.pos[:, 2] = -alt_m
    phys.target[:, 2] = -alt_m


def test_the_published_energy_numbers() -> None:
    assert BATTERY_WH == 74.0
    assert flight_power_w(0.0, 0.0) == 190.0
    assert flight_power_w(10.0, 0.0) == pytest.approx(190.0 + 150.0)
    assert flight_power_w(0.0, 2.0) == pytest.approx(190.0 + 70.0)
    assert flight_power_w(0.0, -2.0) == 190.0  # descent adds nothing
    volts = battery_voltage_v(np.array([1.0, 0.95, 0.5, 0.05, 0.0]))
    assert volts.tolist() == pytest.approx([16.8, 16.4, 15.2, 14.0, 13.2])


def test_hovering_for_a_minute_uses_190_w() -> None:
    phys = fleet()
    hover_at(phys, 10.0)
    for _ in range(60):
        phys.step(1.0)
    assert phys.consumed_wh[0] == pytest.approx(190.0 / 60.0, rel=1e-3)
    assert phys.energy_wh[0] == pytest.approx(BATTERY_WH - 190.0 / 60.0, rel=1e-4)
    assert phys.alt_m(0) == pytest.approx(10.0, abs=0.01)


def test_cruise_reaches_speed_limit_and_costs_drag_power() -> None:
    phys = fleet()
    hover_at(phys, 20.0)
    phys.cruise_m_s[:] = 8.0
    phys.target[0, 0] = 2000.0  # far north
    for _ in range(200):
        phys.step(0.05)
    assert phys.vel[0, 0] == pytest.approx(8.0, abs=0.05)
    assert phys.power_w[0] == pytest.approx(190.0 + 1.5 * 64.0, rel=0.02)
    assert math.degrees(phys.yaw[0]) == pytest.approx(0.0, abs=1.0)  # facing travel
    assert phys.pitch[0] < 0  # nose down into the drag


def test_headwind_raises_power_at_the_same_ground_speed() -> None:
    calm, windy = fleet(), fleet(wind=(5.0, 0.0))  # from the north
    for phys in (calm, windy):
        hover_at(phys, 20.0)
        phys.cruise_m_s[:] = 5.0
        phys.target[0, 0] = 5000.0
        for _ in range(200):
            phys.step(0.05)
    assert windy.vel[0, 0] == pytest.approx(calm.vel[0, 0], abs=0.3)
    assert windy.power_w[0] > calm.power_w[0] + 100  # 10 m/s airspeed vs 5


def test_braking_stops_on_the_setpoint_without_overshoot() -> None:
    phys = fleet()
    hover_at(phys, 10.0)
    phys.target[0, :2] = (0.0, 60.0)
    max_east = 0.0
    for _ in range(600):
        phys.step(0.05)
        max_east = max(max_east, float(phys.pos[0, 1]))
    assert phys.pos[0, 1] == pytest.approx(60.0, abs=0.1)
    assert max_east < 60.3


def test_landing_descends_at_land_speed_and_stays_on_the_ground() -> None:
    phys = fleet()
    hover_at(phys, 5.0)
    phys.landing[:] = True
    phys.land_m_s[:] = 0.7
    phys.step(3.0)
    assert phys.vel[0, 2] == pytest.approx(0.7, abs=0.05)
    phys.step(20.0)
    assert phys.alt_m(0) == 0.0
    assert phys.on_ground()[0]


def test_recharges_only_disarmed_on_the_ground_near_home() -> None:
    phys = fleet(count=2)
    phys.energy_wh[:] = 30.0
    phys.pos[1, :2] = (50.0, 0.0)  # vehicle 1 landed 50 m from its home
    phys.step(360.0)
    assert phys.energy_wh[0] == pytest.approx(30.0 + 150.0 * 0.1)
    assert phys.energy_wh[1] == pytest.approx(30.0)


def test_vehicles_are_independent_in_one_step() -> None:
    phys = fleet(count=3)
    hover_at(phys, 10.0)
    phys.flying[2] = False
    phys.armed[2] = False
    phys.pos[2, 2] = 0.0
    phys.target[2, 2] = 0.0
    phys.target[0, 0] = 100.0
    phys.step(5.0)
    assert phys.pos[0, 0] > 5.0
    assert phys.pos[1, 0] == pytest.approx(0.0, abs=1e-6)
    # 0 flies north, 1 hovers, 2 sits disarmed at home and charges.
    assert phys.power_w.tolist() == pytest.approx([phys.power_w[0], 190.0, -150.0], rel=1e-6)
