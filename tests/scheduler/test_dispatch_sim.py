"""Dispatch against three simulated vehicles over real UDP, with a real store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from drone_ops.config import ControllerConfig
from drone_ops.dispatch import DispatchRequest, dispatch
from drone_ops.fleet import Fleet
from drone_ops.geofence import distance_m
from drone_ops.incidents import Incidents
from drone_ops.store import open_store
from tests.scheduler.simhelp import wait_ready

SPEEDUP = 20.0
SPACING_M = 400.0  # the simulator parks its vehicles in a row going east


def east_of(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat, lon + metres / (111_195.0 * math.cos(math.radians(lat)))


async def test_dispatch_sends_the_nearest_ready_vehicle_and_it_arrives(
    sim_fleet: Any, tmp_path: Path
) -> None:
    async with (
        sim_fleet(count=3, speedup=SPEEDUP, home_spacing_m=SPACING_M) as under_test,
        open_store(f"sqlite:///{tmp_path / 'ops.db'}") as store,
        Fleet(
            audit=store.audit, recorder=store, config=ControllerConfig().scaled(SPEEDUP)
        ) as fleet,
    ):
        for i in range(3):
            await fleet.add_vehicle(f"v{i + 1}", under_test.api_url(i))
        await wait_ready(fleet)
        home1 = fleet.state("v1").home
        assert home1 is not None
        # 100 m beyond the third vehicle's dock: v3 is nearest, v1 and v2 are full too
        lat, lon = east_of(home1.lat_deg, home1.lon_deg, 2 * SPACING_M + 100)
        req = DispatchRequest(lat_deg=lat, lon_deg=lon, alt_m=25, hold_s=30, reason="alarm")
        report = await dispatch(fleet, req, incidents=Incidents(store), actor="officer:7")
        assert report.choice.vehicle_id == "v3"
        assert report.choice.distance_m == pytest.approx(100, abs=15)
        assert report.arrival_s is not None
        assert report.airborne_s is not None
        assert report.takeoff_command_s <= report.airborne_s <= report.arrival_s
        v3 = fleet.state("v3")
        assert v3.lat_deg is not None
        assert v3.lon_deg is not None
        assert distance_m(v3.lat_deg, v3.lon_deg, lat, lon) <= 5.0
        assert v3.rel_alt_m == pytest.approx(25, abs=3)  # the requested safe altitude
        assert not fleet.state("v1").armed  # nobody else moved
        result = await fleet.sortie_result("v3")  # holds, returns home, lands
        assert result.outcome.value == "completed"
        incident = await Incidents(store).get(report.incident_id or 0)
        assert incident.kind == "dispatch"
        assert "alarm" in incident.summary
        assert incident.vehicle_id == "v3"
        sortie = await store.sortie(report.sortie_id)
        assert sortie.vehicle_id == "v3"
        assert sortie.ended_us is not None
