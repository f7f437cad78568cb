"""Controller CPU per vehicle at PX4's default telemetry rates, for 1, 10 and 50 vehicles.

The vehicles run in a child process, so their CPU is measured apart from the
controller's. Two sources:

  px4rate  a synthetic MAVLink source that streams exactly PX4 v1.16's API-link
           mix and rates (PX4-REFERENCE.md: ~410 messages/s per vehicle,
           bundled per 10 ms like PX4's UDP sender). It only streams: it is
           a load generator, not a vehicle.
  sim      the built-in simulator (`sitl.SimFleet`); it caps streams at its
           50 Hz tick and thins them for big fleets, so it sends less.

For each source and fleet size the parent runs two receivers over the same
stream, one after the other:

  baseline   a bare asyncio UDP receiver that only counts datagrams: the least
             any Python controller pays to receive the stream;
  controller the drone-ops `Fleet`: MAVSDK fed over raw://, frames counted,
             state decoded, snapshots and TelemetrySamples published.

It prints process CPU / wall time (100 % = one core) for both, their ratio,
the controller's cost per message and per vehicle, and the source's CPU.

    .venv/bin/python bench/controller_cpu.py [--sizes 1,10,50] [--seconds 8] [--source both]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# PX4 v1.16 SITL API link (14540): message -> Hz (PX4-REFERENCE.md, "Stream rates").
PX4_API_RATES_HZ: dict[str, float] = {
    "ATTITUDE": 100, "ATTITUDE_QUATERNION": 50, "GLOBAL_POSITION_INT": 50,
    "LOCAL_POSITION_NED": 30, "ATTITUDE_TARGET": 10, "POSITION_TARGET_LOCAL_NED": 10,
    "SERVO_OUTPUT_RAW": 10, "HIGHRES_IMU": 50, "ODOMETRY": 30, "TIMESYNC": 10,
    "DISTANCE_SENSOR": 10, "VFR_HUD": 10, "ALTITUDE": 10, "GPS_RAW_INT": 8,
    "SYS_STATUS": 5, "EXTENDED_SYS_STATE": 5, "POSITION_TARGET_GLOBAL_INT": 10,
    "SCALED_PRESSURE": 1, "MISSION_CURRENT": 1, "SYSTEM_TIME": 1, "PING": 1,
    "ESTIMATOR_STATUS": 1, "VIBRATION": 0.5, "BATTERY_STATUS": 0.5, "HOME_POSITION": 0.5,
    "HEARTBEAT": 1,
}  # fmt: skip
PX4_API_MSG_S = sum(PX4_API_RATES_HZ.values())
_TICK_S = 0.01
_MTU = 1400


def _send(sock: socket.socket, data: bytes, port: int) -> None:
    with contextlib.suppress(OSError):  # a full buffer drops, as a radio would
        sock.sendto(data, ("127.0.0.1", port))


# ----------------------------------------------------------------- child: the sources
def _templates() -> dict[str, Any]:
    from pymavlink.dialects.v20 import common as m

    lat, lon = 473977430, 85455940
    return {
        "ATTITUDE": m.MAVLink_attitude_message(0, 0.01, 0.02, 1.5, 0, 0, 0),
        "ATTITUDE_QUATERNION": m.MAVLink_attitude_quaternion_message(0, 1, 0, 0, 0, 0, 0, 0),
        "GLOBAL_POSITION_INT": m.MAVLink_global_position_int_message(
            0, lat, lon, 509400, 20000, 300, 400, 0, 5300
        ),
        "LOCAL_POSITION_NED": m.MAVLink_local_position_ned_message(0, 1, 2, -20, 3, 4, 0),
        "ATTITUDE_TARGET": m.MAVLink_attitude_target_message(0, 0, [1, 0, 0, 0], 0, 0, 0, 0.5),
        "POSITION_TARGET_LOCAL_NED": m.MAVLink_position_target_local_ned_message(
            0, 1, 0, 1, 2, -20, 0, 0, 0, 0, 0, 0, 0, 0
        ),
        "SERVO_OUTPUT_RAW": m.MAVLink_servo_output_raw_message(0, 0, *([1500] * 8)),
        "HIGHRES_IMU": m.MAVLink_highres_imu_message(0, *([0.1] * 13), 0),
        "ODOMETRY": m.MAVLink_odometry_message(
            0, 1, 12, 1, 2, -20, [1, 0, 0, 0], 3, 4, 0, 0, 0, 0, [0] * 21, [0] * 21
        ),
        "TIMESYNC": m.MAVLink_timesync_message(0, 1),
        "DISTANCE_SENSOR": m.MAVLink_distance_sensor_message(0, 10, 4000, 2000, 0, 0, 25, 0),
        "VFR_HUD": m.MAVLink_vfr_hud_message(5, 5, 53, 50, 20, 0),
        "ALTITUDE": m.MAVLink_altitude_message(0, 509, 509, 20, 20, 20, 20),
        "GPS_RAW_INT": m.MAVLink_gps_raw_int_message(0, 3, lat, lon, 509400, 80, 120, 500, 0, 16),
        "SYS_STATUS": m.MAVLink_sys_status_message(
            0x1020FFFF, 0x1020FFFF, 0x1020FFFF, 300, 15800, 1200, 80, 0, 0, 0, 0, 0, 0
        ),
        "EXTENDED_SYS_STATE": m.MAVLink_extended_sys_state_message(0, 2),
        "POSITION_TARGET_GLOBAL_INT": m.MAVLink_position_target_global_int_message(
            0, 6, 0, lat, lon, 20, 0, 0, 0, 0, 0, 0, 0, 0
        ),
        "SCALED_PRESSURE": m.MAVLink_scaled_pressure_message(0, 1013, 0, 2000),
        "MISSION_CURRENT": m.MAVLink_mission_current_message(2, 6),
        "SYSTEM_TIME": m.MAVLink_system_time_message(0, 0),
        "PING": m.MAVLink_ping_message(0, 0, 0, 0),
        "ESTIMATOR_STATUS": m.MAVLink_estimator_status_message(0, 0, *([0.1] * 8)),
        "VIBRATION": m.MAVLink_vibration_message(0, 0.1, 0.1, 0.1, 0, 0, 0),
        "BATTERY_STATUS": m.MAVLink_battery_status_message(
            0, 0, 1, 2500, [3950] * 4 + [65535] * 6, 1200, 1000, 30, 80
        ),
        "HOME_POSITION": m.MAVLink_home_position_message(
            lat, lon, 489400, 0, 0, 0, [1, 0, 0, 0], 0, 0, 0
        ),
        "HEARTBEAT": m.MAVLink_heartbeat_message(2, 12, 157, 0x04040000, 4, 3),
    }


async def _px4rate_child(count: int, ports: list[int]) -> None:
    """Stream PX4's API-link mix to each port; vehicle i has system id i + 1."""
    from pymavlink.dialects.v20 import common as m

    class _Sink:
        def write(self, _b: bytes) -> None:
            pass

    from pymavlink.generator.mavcrc import x25crc

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    templates = _templates()
    # Each message is packed once per vehicle; sending patches the sequence number and
    # the checksum, so the source stays cheap enough to hold PX4's rates for 50 vehicles.
    frames = [
        {
            n: bytearray(msg.pack(m.MAVLink(_Sink(), srcSystem=i + 1, srcComponent=1)))
            for n, msg in templates.items()
        }
        for i in range(count)
    ]
    extra = {n: bytes((msg.crc_extra,)) for n, msg in templates.items()}
    seqs = [0] * count

    def framed(i: int, n: str) -> bytes:
        f = frames[i][n]
        f[4] = seqs[i]
        seqs[i] = (seqs[i] + 1) & 0xFF
        crc = x25crc(bytes(f[1:-2]))
        crc.accumulate(extra[n])
        f[-2], f[-1] = crc.crc & 0xFF, crc.crc >> 8
        return bytes(f)

    due = dict.fromkeys(PX4_API_RATES_HZ, 0.0)
    start = time.monotonic()
    tick = 0
    while True:
        now = time.monotonic() - start
        batch: list[str] = []
        for n, rate in PX4_API_RATES_HZ.items():
            due[n] = max(due[n], now - 0.1)  # more than 100 ms behind: drop, don't flood
            while due[n] <= now:  # a late tick sends what fell due, so the rate holds
                batch.append(n)
                due[n] += 1.0 / rate
        for i in range(count):
            datagram = b""
            for n in batch:
                frame = framed(i, n)
                if len(datagram) + len(frame) > _MTU:  # PX4 sends MTU-sized UDP bundles
                    _send(sock, datagram, ports[i])
                    datagram = b""
                datagram += frame
            if datagram:
                _send(sock, datagram, ports[i])
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * _TICK_S - time.monotonic()))


async def _sim_child(count: int, ports: list[int]) -> None:
    from sitl import SimConfig, SimFleet, free_vehicle_ports

    vports = free_vehicle_ports(count)
    vports = [
        type(p)(api_remote=ports[i], api_local=p.api_local, gcs_remote=p.gcs_remote,
                gcs_local=p.gcs_local, video=p.video)
        for i, p in enumerate(vports)
    ]  # fmt: skip
    cfg = SimConfig(count=count, speedup=1.0, ports=vports, stream_budget_msg_s=count * 1000.0)
    async with SimFleet(cfg):
        await asyncio.Event().wait()


async def _child(source: str, count: int, ports: list[int]) -> None:
    run = _px4rate_child if source == "px4rate" else _sim_child
    task = asyncio.ensure_future(run(count, ports))
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # parent closes it
    task.cancel()


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _free_udp_ports(count: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# ----------------------------------------------------------------- parent: the receivers
class _Counter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams += 1


async def _measure(seconds: float, pid: int, messages: Callable[[], int]) -> dict[str, float]:
    m0, c0, s0, t0 = messages(), time.process_time(), _proc_cpu_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    m1, c1, s1, t1 = messages(), time.process_time(), _proc_cpu_s(pid), time.monotonic()
    wall = t1 - t0
    return {"cpu": (c1 - c0) / wall, "source_cpu": (s1 - s0) / wall, "msg_s": (m1 - m0) / wall}


async def _baseline(ports: list[int], seconds: float, pid: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    endpoints = [
        await loop.create_datagram_endpoint(_Counter, local_addr=("127.0.0.1", p)) for p in ports
    ]
    try:
        await asyncio.sleep(1.0)
        return await _measure(seconds, pid, lambda: sum(c.datagrams for _, c in endpoints))
    finally:
        for t, _ in endpoints:
            t.close()


async def _controller(ports: list[int], seconds: float, pid: int) -> dict[str, float]:
    import logging

    from drone_ops.audit import MemoryAuditLog
    from drone_ops.fleet import Fleet
    from telemetry.bus import Policy, TelemetryBus

    logging.getLogger("drone_ops").setLevel(logging.WARNING)
    async with (
        TelemetryBus() as bus,
        Fleet(audit=MemoryAuditLog(), sample_bus=bus) as fleet,
        bus.subscribe("bench", policy=Policy.LATEST, maxsize=1024),
    ):
        sessions = [
            await fleet.add_vehicle(f"v{i}", f"udpin://127.0.0.1:{p}") for i, p in enumerate(ports)
        ]
        await asyncio.sleep(1.0)
        result = await _measure(seconds, pid, lambda: sum(s._counters.messages for s in sessions))
        result["loss_pct"] = max(s.state.link_loss_pct or 0.0 for s in sessions)
        return result


async def _one(source: str, count: int, seconds: float) -> dict[str, Any]:
    ports = _free_udp_ports(count)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", source, json.dumps(ports),
        stdin=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    try:
        base = await _baseline(ports, seconds, proc.pid)
        ctl = await _controller(ports, seconds, proc.pid)
    finally:
        proc.stdin.close()
        await proc.wait()
    return {"source": source, "count": count, "baseline": base, "controller": ctl}


def _report(r: dict[str, Any]) -> None:
    n, b, c = r["count"], r["baseline"], r["controller"]
    per_msg_us = 1e6 * c["cpu"] / c["msg_s"] if c["msg_s"] else float("nan")
    ratio = c["cpu"] / b["cpu"] if b["cpu"] else float("nan")
    print(
        f"{r['source']:>7} {n:>3} vehicles | {c['msg_s']:6.0f} msg/s ({c['msg_s'] / n:3.0f}/veh)"
        f" | controller {100 * c['cpu']:5.1f}% ({100 * c['cpu'] / n:4.2f}%/veh,"
        f" {per_msg_us:4.1f} µs/msg) | bare receiver {100 * b['cpu']:4.1f}% | ratio {ratio:4.1f}x"
        f" | source {100 * c['source_cpu']:5.1f}% | loss {c['loss_pct']:.1f}%",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1,10,50", help="fleet sizes (default 1,10,50)")
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring window per run")
    ap.add_argument("--source", choices=("px4rate", "sim", "both"), default="both")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        ports = json.loads(args.child[1])
        asyncio.run(_child(args.child[0], len(ports), ports))
        return
    print(
        f"controller CPU (100% = one core), {args.seconds:g} s windows; "
        f"PX4 API link = {PX4_API_MSG_S:.0f} msg/s per vehicle"
    )
    sources = ("px4rate", "sim") if args.source == "both" else (args.source,)
    for source in sources:
        for size in (int(s) for s in args.sizes.split(",")):
            _report(asyncio.run(_one(source, size, args.seconds)))


if __name__ == "__main__":
    main()
