"""A fleet of simulated PX4 vehicles in one asyncio process.

`SimFleet` is an async context manager: entering binds every vehicle's two
UDP sockets (a taken port is a `SimPortInUseError` naming it) and returns
once every vehicle is streaming; leaving cancels the tick loop and closes the
sockets. One tick (every 20 ms wall) advances the simulated clock by
20 ms x speedup, steps the vectorised physics, runs each vehicle's commander
and navigator, sends the streams that are due, and flushes each link's
bundle of frames.

Camera hook: `sitl.camera` (built separately) renders from
`vehicle.pose()` and `fleet.clock`; it needs nothing else from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sitl.clock import SimClock
from sitl.config import SimConfig
from sitl.errors import SimPortInUseError
from sitl.link import LinkKind, SimLink
from sitl.physics import FleetPhysics
from sitl.signing import SimSigning
from sitl.streams import TICK_HZ, StreamScheduler, scale_factor
from sitl.vehicle import SimVehicle

__all__ = ["SimFleet"]

TICK_S = 1.0 / TICK_HZ
_MAX_LAG_S = 0.25  # behind by more than this: stop catching up (time runs slower)


class SimFleet:
    """N simulated vehicles sharing one clock, one physics step and one loop."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = SimClock(config.speedup)
        self.vehicles: list[SimVehicle] = []
        self.ticks = 0
        self._tick_event = asyncio.Event()
        self._task_group: asyncio.TaskGroup | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._links: list[SimLink] = []
        self.signing: list[SimSigning] = []  # per vehicle: key and rejected-frame counts
        self._started = False
        # Bundles are flushed every tick for small fleets; large fleets flush
        # every few ticks (at most 100 ms) so one datagram carries more frames.
        self._flush_every = min(5, max(1, config.count // 10))
        self.physics: FleetPhysics | None = None
        self.scheduler = StreamScheduler(
            factor=scale_factor(config.count, config.stream_budget_msg_s), seed=config.seed
        )

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind every socket, start the tick loop, return once streaming."""
        cfg = self.config
        lat, lon, alt = cfg.home
        physics = FleetPhysics(
            count=cfg.count,
            origin=(lat, lon, alt),
            wind_speed_m_s=cfg.wind[0],
            wind_from_deg=cfg.wind[1],
            seed=cfg.seed,
        )
        self.physics = physics
        # Vehicles stand in a row going east, `home_spacing_m` apart.
        for i in range(cfg.count):
            physics.pos[i] = (0.0, i * cfg.home_spacing_m, 0.0)
            physics.target[i] = physics.pos[i]
        loop = asyncio.get_running_loop()
        try:
            for i, ports in enumerate(cfg.vehicle_ports()):
                vehicle = SimVehicle(
                    index=i,
                    system_id=cfg.sys_id_base + i,
                    ports=ports,
                    physics=physics,
                    clock=self.clock,
                    set_stream_rate=self.scheduler.set_rate,
                    get_stream_rate=self.scheduler.rate,
                    param_overrides=dict(cfg.extra_params),
                    seed=cfg.seed,
                )
                signing = SimSigning(sysid=vehicle.system_id, key=cfg.vehicle_signing_key(i))
                self.signing.append(signing)
                for kind, local, remote in (
                    (LinkKind.GCS, ports.gcs_local, ports.gcs_remote),
                    (LinkKind.API, ports.api_local, ports.api_remote),
                ):
                    link = await self._open_link(loop, vehicle, kind, local, remote, signing)
                    link.owner = vehicle
                    vehicle.links.append(link)
                self.vehicles.append(vehicle)
            for vehicle in self.vehicles:
                for link in vehicle.links:
                    self.scheduler.add_link(link)
            self._task_group = asyncio.TaskGroup()
            await self._task_group.__aenter__()
            self._tick_task = self._task_group.create_task(self._run(), name="sitl-fleet-tick")
            self._started = True
            await self.wait_ticks(2)
        except BaseException:
            await self.stop()
            raise

    async def _open_link(
        self,
        loop: asyncio.AbstractEventLoop,
        vehicle: SimVehicle,
        kind: LinkKind,
        local: int,
        remote: int,
        signing: SimSigning,
    ) -> SimLink:
        cfg = self.config
        seed = cfg.seed * 1000 + vehicle.index * 2 + (0 if kind is LinkKind.GCS else 1)

        def factory() -> SimLink:
            return SimLink(
                kind=kind,
                sysid=vehicle.system_id,
                remote_port=remote,
                loss_pct=cfg.loss_pct,
                seed=seed,
                on_message=vehicle.handle,
                sim_time=self.clock.time_s,
                signing=signing,
            )

        try:
            _, link = await loop.create_datagram_endpoint(factory, local_addr=("0.0.0.0", local))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SimPortInUseError(
                    local, f"vehicle {vehicle.index} {kind.value} link"
                ) from exc
            raise
        self._links.append(link)
        return link

    async def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
        if self._task_group is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task_group.__aexit__(None, None, None)
            self._task_group = None
            self._tick_task = None
        for link in self._links:
            link.close()
        self._links.clear()

    # ------------------------------------------------------------ loop
    async def _run(self) -> None:
        next_wall = time.monotonic()
        physics = self.physics
        assert physics is not None
        dt = TICK_S * self.config.speedup
        while True:
            self.step(dt)
            next_wall += TICK_S
            delay = next_wall - time.monotonic()
            if delay < -_MAX_LAG_S:
                next_wall = time.monotonic()
                delay = 0.0
            await asyncio.sleep(max(delay, 0.0))

    def step(self, dt_s: float) -> None:
        """One tick: physics, vehicles, streams, flush."""
        physics = self.physics
        assert physics is not None
        physics.step(dt_s)
        self.clock.advance(dt_s)
        now = self.clock.time_s()
        tick = self.ticks
        for vehicle in self.vehicles:
            vehicle.update(now, tick)
            vehicle.mission.poll()
        self.scheduler.run_tick()
        if tick % self._flush_every == 0:
            for link in self._links:
                link.flush()
        self.ticks += 1
        event = self._tick_event
        self._tick_event = asyncio.Event()
        event.set()

    # ------------------------------------------------------------ helpers
    async def wait_ticks(self, count: int = 1) -> None:
        for _ in range(count):
            await self._tick_event.wait()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Wait (wall seconds) until `predicate()` holds after some tick."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                await self._tick_event.wait()

    def real_time_factor(self) -> float:
        return self.clock.real_time_factor()

    def __len__(self) -> int:
        return len(self.vehicles)
