"""Controller tests fly against the built-in simulator over real UDP on free ports."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymavlink.dialects.v20 import common as mavlink2

from drone_ops.audit import MemoryAuditLog
from drone_ops.config import ControllerConfig
from drone_ops.fleet import Fleet
from drone_ops.session import VehicleSession
from drone_ops.sortie import MemorySortieRecorder
from missions.generators import route
from missions.plan import FencePolygon, Geofence, GeoPoint, Home, PatrolPlan

SPEEDUP = 10.0


@dataclass(slots=True)
class Controller:
    """A fleet connected to simulated vehicles, with its audit chain and sortie records."""

    fleet: Fleet
    sim: Any  # tests/conftest.py FleetUnderTest
    audit: MemoryAuditLog
    recorder: MemorySortieRecorder
    tlog_dir: Path
    sessions: list[VehicleSession] = field(default_factory=list)

    def actions(self, vehicle_id: str | None = None) -> list[str]:
        target = None if vehicle_id is None else f"vehicle:{vehicle_id}"
        return [e.action for e in self.audit.entries if target is None or e.target == target]


def patrol(
    session: VehicleSession,
    *,
    north_m: float = 40.0,
    east_m: float = 30.0,
    alt_m: float = 15.0,
    fenced: bool = True,
    name: str = "patrol",
) -> PatrolPlan:
    """A small loop near the vehicle's home, inside a fence around it."""
    home = session.state.home
    assert home is not None, "vehicle has no home yet"
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * 0.6768)  # cos(47.4°)
    pts = [
        GeoPoint(lat_deg=home.lat_deg + dlat, lon_deg=home.lon_deg),
        GeoPoint(lat_deg=home.lat_deg + dlat, lon_deg=home.lon_deg + dlon),
        GeoPoint(lat_deg=home.lat_deg, lon_deg=home.lon_deg + dlon),
    ]
    plan = route(
        pts,
        home=Home(lat_deg=home.lat_deg, lon_deg=home.lon_deg, amsl_m=home.amsl_m),
        alt_m=alt_m,
        name=name,
    )
    if not fenced:
        return plan
    m = 3 * max(dlat, dlon)
    fence = Geofence(
        polygons=(
            FencePolygon(
                vertices=(
                    GeoPoint(lat_deg=home.lat_deg - m, lon_deg=home.lon_deg - m),
                    GeoPoint(lat_deg=home.lat_deg - m, lon_deg=home.lon_deg + 2 * m),
                    GeoPoint(lat_deg=home.lat_deg + 2 * m, lon_deg=home.lon_deg + 2 * m),
                    GeoPoint(lat_deg=home.lat_deg + 2 * m, lon_deg=home.lon_deg - m),
                )
            ),
        )
    )
    return PatrolPlan(
        name=plan.name,
        kind=plan.kind,
        items=plan.items,
        fence=fence,
        home=plan.home,
        params=plan.params,
    )


ControllerFactory = Callable[..., AbstractAsyncContextManager[Controller]]


@pytest.fixture
def controller(sim_fleet: Any, tmp_path: Path) -> ControllerFactory:
    """`async with controller(count=N, **sim options) as c`: connected, homes known."""

    @asynccontextmanager
    async def factory(
        count: int = 1, speedup: float = SPEEDUP, **sim: Any
    ) -> AsyncIterator[Controller]:
        async with sim_fleet(count=count, speedup=speedup, **sim) as fut:
            audit = MemoryAuditLog()
            recorder = MemorySortieRecorder()
            cfg = ControllerConfig().scaled(speedup)
            tlog_dir = tmp_path / "tlog"
            async with Fleet(
                audit=audit, config=cfg, recorder=recorder, tlog_dir=tlog_dir
            ) as fleet:
                c = Controller(
                    fleet=fleet, sim=fut, audit=audit, recorder=recorder, tlog_dir=tlog_dir
                )
                for i in range(count):
                    url = f"udpin://127.0.0.1:{fut.api_port(i)}"
                    c.sessions.append(await fleet.add_vehicle(f"v{i + 1}", url, wait=False))
                # connected together, as `serve` and `status` do: MAVSDK discovery is
                # ~0.5 s per vehicle, so ten in a row cost 5 s of every fleet test
                async with asyncio.TaskGroup() as tg:
                    for s in c.sessions:
                        tg.create_task(s.wait_connected(), name=f"connect-{s.vehicle_id}")
                for s in c.sessions:
                    await s.wait_for(
                        lambda st: st.home is not None and st.health_ok is not None, timeout_s=10
                    )
                yield c

    return factory


class _Sink:
    def write(self, _b: bytes) -> None:
        pass


def send_command(port: int, target_sysid: int, command: int, *params: float) -> None:
    """COMMAND_LONG from a second ground station (sysid 250) to a vehicle's GCS link."""
    mav = mavlink2.MAVLink(_Sink(), srcSystem=250, srcComponent=190)
    p = [*params, *([0.0] * (7 - len(params)))]
    frame = mavlink2.MAVLink_command_long_message(target_sysid, 1, command, 0, *p).pack(mav)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(frame, ("127.0.0.1", port))


INJECT_FAILURE = 420
FAILURE_UNIT_GPS = 4
FAILURE_UNIT_BATTERY = 100
FAILURE_OFF = 1
