"""The serial transport over a real pseudo-terminal: bytes in, frames, state, bytes out."""

from __future__ import annotations

import asyncio
import os
import tty
from pathlib import Path
from typing import Any

from pymavlink.dialects.v20 import common as mavlink2

from drone_ops.audit import MemoryAuditLog
from drone_ops.config import ControllerConfig, TimeoutsConfig
from drone_ops.link.hub import MavsdkHub
from drone_ops.link.policy import LinkState
from drone_ops.session import VehicleSession


class _Sink:
    def write(self, _b: bytes) -> None:
        pass


async def test_serial_vehicle_over_a_pty() -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    device = os.ttyname(slave)
    mav: Any = mavlink2.MAVLink(_Sink(), srcSystem=3, srcComponent=1)
    loop = asyncio.get_running_loop()
    received = bytearray()
    loop.add_reader(master, lambda: received.extend(os.read(master, 4096)))
    try:
        async with (
            MavsdkHub() as hub,
            VehicleSession(
                "radio", f"serial://{device}:57600", hub=hub, audit=MemoryAuditLog()
            ) as s,
        ):
            frames = b"".join(
                m.pack(mav)
                for m in (
                    mavlink2.MAVLink_heartbeat_message(2, 12, 29, 0x03040000, 3, 3),
                    mavlink2.MAVLink_global_position_int_message(
                        1000, 473977430, 85455940, 489400, 0, 0, 0, 0, 9000
                    ),
                )
            )
            # a serial stream splits frames anywhere: write in uneven pieces
            for i in range(0, len(frames), 7):
                os.write(master, frames[i : i + 7])
            state = await s.wait_for(
                lambda st: st.link is LinkState.CONNECTED and st.lat_deg is not None, timeout_s=5
            )
            assert state.system_id == 3
            assert abs((state.lat_deg or 0) - 47.397743) < 1e-7
            await s.wait_connected(5)  # MAVSDK discovered it through the same bytes
            # MAVSDK's own heartbeat goes out on the tty
            parser = mavlink2.MAVLink(None)
            for _ in range(50):
                msgs = parser.parse_buffer(bytes(received)) or []
                if any(m.get_type() == "HEARTBEAT" and m.get_srcSystem() == 245 for m in msgs):
                    break
                received.clear()
                await s.next_change()
            else:
                raise AssertionError("no heartbeat from the controller on the serial link")
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)


async def test_serial_device_unplugged_and_replugged_is_reopened(tmp_path: Path) -> None:
    """Like /dev/serial/by-id/...: a stable symlink whose device goes away and comes back."""
    link = tmp_path / "radio"
    master, slave = os.openpty()
    link.symlink_to(os.ttyname(slave))
    mav: Any = mavlink2.MAVLink(_Sink(), srcSystem=4, srcComponent=1)
    heartbeat = mavlink2.MAVLink_heartbeat_message(2, 12, 29, 0x03040000, 3, 3)
    cfg = ControllerConfig(timeouts=TimeoutsConfig(heartbeat_loss_s=0.5))
    async with (
        MavsdkHub() as hub,
        VehicleSession(
            "radio", f"serial://{link}:57600", hub=hub, audit=MemoryAuditLog(), config=cfg
        ) as s,
    ):
        os.write(master, heartbeat.pack(mav))
        await s.wait_for(lambda st: st.link is LinkState.CONNECTED, timeout_s=5)
        os.close(master)  # unplugged
        os.close(slave)
        await s.wait_for(lambda st: st.link is LinkState.LOST, timeout_s=5)
        await s.wait_for(lambda _st: "transport_failed" in _kinds(s), timeout_s=5)
        master, slave = os.openpty()  # plugged in again: a new device behind the same name
        tmp = tmp_path / "radio.new"
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(link)
        try:
            await s.wait_for(lambda _st: "transport_reopened" in _kinds(s), timeout_s=10)
            os.write(master, heartbeat.pack(mav))
            await s.wait_for(lambda st: st.link is LinkState.CONNECTED, timeout_s=5)
            assert _kinds(s)[-1] == "recovered"
        finally:
            os.close(master)
            os.close(slave)


def _kinds(s: VehicleSession) -> list[str]:
    return [e.kind for e in s.link_events]
