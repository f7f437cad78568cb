"""Project-wide pytest options and fixtures. Package-specific fixtures live in
each test folder's own conftest.py.

`--sitl {builtin,px4}` chooses what the shared `sim_fleet` fixture flies
against: the built-in simulator on free ports (default), or real PX4 SITL
instances on PX4's fixed ports (needs a PX4 build: --px4-dir or PX4_DIR).

    async def test_x(sim_fleet):
        async with sim_fleet(count=2, speedup=10) as fleet:
            url = fleet.api_url(0)            # MAVSDK: udpin://0.0.0.0:<port>
            fleet.gcs_port(0), fleet.api_local_port(0), fleet.system_id(0)
            fleet.builtin_vehicles("why")     # SimVehicle objects; skips on px4
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from sitl import (
    Px4NotFoundError,
    Px4Sitl,
    SimConfig,
    SimFleet,
    SimVehicle,
    VehiclePorts,
    find_px4_binary,
    free_vehicle_ports,
)
from tests.store.store_helpers import PG_BIN, PrivatePostgres


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sitl", "simulated vehicles")
    group.addoption(
        "--sitl",
        choices=("builtin", "px4"),
        default="builtin",
        help="fly simulator tests against the built-in simulator (default) or real PX4 SITL",
    )
    group.addoption(
        "--px4-dir",
        default=None,
        help="PX4-Autopilot checkout with a px4_sitl_default build (default: $PX4_DIR)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--sitl") == "px4":
        try:
            find_px4_binary(config.getoption("--px4-dir"))
        except Px4NotFoundError as exc:
            raise pytest.UsageError(f"--sitl px4: {exc}") from None


@dataclass(slots=True)
class FleetUnderTest:
    """What a test flies against: ports, and (built-in only) the vehicles."""

    kind: str
    ports: list[VehiclePorts]
    fleet: SimFleet | None
    speedup: float

    def api_url(self, i: int = 0) -> str:
        """MAVSDK connection string for vehicle i's API link."""
        return f"udpin://0.0.0.0:{self.ports[i].api_remote}"

    def api_port(self, i: int = 0) -> int:
        """Where vehicle i streams its API link (a client listens here)."""
        return self.ports[i].api_remote

    def gcs_port(self, i: int = 0) -> int:
        """Where vehicle i streams its GCS link (a client listens here)."""
        return self.ports[i].gcs_remote

    def api_local_port(self, i: int = 0) -> int:
        """Where vehicle i listens on its API link."""
        return self.ports[i].api_local

    def gcs_local_port(self, i: int = 0) -> int:
        return self.ports[i].gcs_local

    def video_port(self, i: int = 0) -> int:
        return self.ports[i].video

    def system_id(self, i: int = 0) -> int:
        return 1 + i

    def builtin_vehicles(self, why: str) -> list[SimVehicle]:
        """The simulated vehicles (test hooks); skips the test against real PX4."""
        if self.fleet is None:
            pytest.skip(f"needs the built-in simulator: {why}")
        return self.fleet.vehicles

    @property
    def vehicles(self) -> list[SimVehicle]:
        return self.builtin_vehicles("uses simulator-only hooks")

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        if self.fleet is None:
            pytest.skip("wait_until watches simulator state: built-in simulator only")
        await self.fleet.wait_until(predicate, timeout_s)


SimFleetFactory = Callable[..., AbstractAsyncContextManager[FleetUnderTest]]


@pytest.fixture
def sitl_kind(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--sitl"))


@pytest.fixture
def sim_fleet(request: pytest.FixtureRequest) -> SimFleetFactory:
    """Factory: `async with sim_fleet(count=N, speedup=K, **SimConfig fields) as fleet`."""
    kind = str(request.config.getoption("--sitl"))
    px4_dir = request.config.getoption("--px4-dir")

    @asynccontextmanager
    async def factory(
        count: int = 1, speedup: float = 10.0, **config: Any
    ) -> AsyncIterator[FleetUnderTest]:
        if kind == "px4":
            if config:
                pytest.skip(
                    f"simulator settings {sorted(config)} exist in the built-in simulator only"
                )
            async with Px4Sitl(count=count, px4_dir=px4_dir, speedup=speedup) as px4:
                yield FleetUnderTest(kind=kind, ports=px4.ports, fleet=None, speedup=speedup)
            return
        ports = free_vehicle_ports(count)
        cfg = SimConfig(count=count, speedup=speedup, ports=ports, **config)
        async with SimFleet(cfg) as fleet:
            yield FleetUnderTest(kind=kind, ports=ports, fleet=fleet, speedup=speedup)

    return factory


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A started PostgreSQL server of the test's own, on a free port, that the test may
    stop and start again (PostgreSQL-restart fault tests)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL server binaries are not installed")
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()
