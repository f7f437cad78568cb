"""How many simulated vehicles this machine runs at real time.

For N = 1, 10, 50, 100 vehicles (or --counts), a child process runs
`SimFleet(count=N, speedup=1)` with every vehicle flying (armed, taken off,
repositioned to a point 2 km away, so physics, navigator and all streams are
busy), while this process plays the ground station: it listens on every
vehicle's API and GCS ports, counts what arrives, and sends the commands.

Printed per N: the achieved real-time factor (simulated seconds per wall
second; >= 1.0 means the fleet keeps up, on this machine under its current
load), the telemetry streamed and received per second, the CPU the simulator
used per wall second, and "sim s per CPU s": simulated seconds per second of
one core, a load-independent capacity figure (>= 1 means one free core runs
that fleet in real time; it is also the largest --speedup a free core
sustains). The baseline in the same run is N = 1: "cost/vehicle" is the CPU
per vehicle relative to it.

    .venv/bin/python bench/sim_realtime.py [--counts 1,10,50,100] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pymavlink.dialects.v20 import common as mavlink

from sitl import SimConfig, SimFleet, VehiclePorts, free_vehicle_ports


def _child(count: int, ports: list[VehiclePorts], seconds: float, conn: Any) -> None:
    async def run() -> None:
        cfg = SimConfig(count=count, speedup=1.0, ports=ports)
        async with SimFleet(cfg) as fleet:
            conn.send("ready")
            conn.recv()  # the ground station has sent takeoff and arm
            await fleet.wait_until(lambda: all(v.in_air() for v in fleet.vehicles), 60)
            conn.send("airborne")
            conn.recv()  # ... and the reposition
            sim0, cpu0, wall0 = fleet.clock.time_s(), time.process_time(), time.monotonic()
            sent0 = fleet.scheduler.sent
            await asyncio.sleep(seconds)
            wall = time.monotonic() - wall0
            rtf = (fleet.clock.time_s() - sim0) / wall
            cpu = (time.process_time() - cpu0) / wall
            streamed = (fleet.scheduler.sent - sent0) / wall
            flying = sum(1 for v in fleet.vehicles if v.in_air())
            sim_per_cpu = (fleet.clock.time_s() - sim0) / max(time.process_time() - cpu0, 1e-9)
        conn.send((rtf, cpu, streamed, flying, sim_per_cpu))

    asyncio.run(run())


def _command(sock: socket.socket, mav: Any, port: int, sysid: int, cmd: int, *p: float) -> None:
    params = list(p) + [0.0] * (7 - len(p))
    msg = mavlink.MAVLink_command_long_message(sysid, 1, cmd, 0, *params)
    sock.sendto(msg.pack(mav), ("127.0.0.1", port))


def measure(count: int, seconds: float) -> tuple[float, float, float, int, float, float]:
    ports = free_vehicle_ports(count)
    listeners = []
    for p in ports:
        for port in (p.api_remote, p.gcs_remote):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.bind(("127.0.0.1", port))
            s.setblocking(False)
            listeners.append(s)
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_child, args=(count, ports, seconds, child))
    proc.start()
    assert parent.recv() == "ready"
    gcs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    lat, lon = 47.397743 + 0.018, 8.545594
    for i, p in enumerate(ports):
        sysid = 1 + i
        _command(gcs, mav, p.api_local, sysid, 22, 0, 0, 0, 0, 0, 0, float("nan"))  # takeoff
        _command(gcs, mav, p.api_local, sysid, 400, 1)  # arm
    parent.send("commands sent")
    assert parent.recv() == "airborne"
    for i, p in enumerate(ports):  # then head 2 km north
        _command(gcs, mav, p.api_local, 1 + i, 192, -1, 1, 0, float("nan"), lat, lon, 520.0)
    parent.send("go")
    received = 0
    t0 = time.monotonic()
    while not parent.poll():
        for s in listeners:
            try:
                while True:
                    data = s.recv(65535)
                    received += data.count(b"\xfd")  # frames (approximate, start markers)
            except BlockingIOError:
                pass
        time.sleep(0.01)
    wall = time.monotonic() - t0
    rtf, cpu, streamed, flying, capacity = parent.recv()
    proc.join()
    for s in listeners:
        s.close()
    return rtf, cpu, streamed, flying, capacity, received / wall


def encoder_ratio() -> float:
    """Our framer against pymavlink's pack() on GLOBAL_POSITION_INT (baseline)."""
    from sitl.codec import Framer

    framer = Framer(1)
    mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    msg = mavlink.MAVLink_global_position_int_message(1, 473977430, 85455940, 489400, 0, 1, 2, 3, 0)
    cls = mavlink.MAVLink_global_position_int_message
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        msg.pack(mav)
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(n):
        framer.frame(cls, 1, 473977430, 85455940, 489400, 0, 1, 2, 3, 0)
    ours = time.perf_counter() - t0
    assert framer.frame(cls, 1, 2, 3, 4, 5, 6, 7, 8, 9)[0] == 0xFD
    return base / ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,10,50,100")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"framing: {encoder_ratio():.1f}x faster than pymavlink pack() (baseline, same run)")
    print(
        f"{'N':>4} {'real-time factor':>17} {'sim CPU/wall':>13} {'cost/vehicle':>13} "
        f"{'streamed msg/s':>15} {'received msg/s':>15} {'flying':>8} {'sim s per CPU s':>16}"
    )
    base_cpu_per_vehicle = None
    for count in counts:
        rtf, cpu, streamed, flying, capacity, received = measure(count, args.seconds)
        per_vehicle = cpu / count
        if base_cpu_per_vehicle is None:
            base_cpu_per_vehicle = per_vehicle
        print(
            f"{count:>4} {rtf:>17.2f} {cpu:>12.0%} {per_vehicle / base_cpu_per_vehicle:>12.2f}x "
            f"{streamed:>15.0f} {received:>15.0f} {flying:>4}/{count:<3} {capacity:>15.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
