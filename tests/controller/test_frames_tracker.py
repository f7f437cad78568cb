"""The raw side: frames cut from real pymavlink-encoded bytes, loss counted, state decoded."""

from __future__ import annotations

from typing import Any

from pymavlink.dialects.v20 import common as m

from drone_ops.link.frames import FrameDecoder, FrameSplitter, frame_target_system
from drone_ops.link.stats import LinkCounters
from drone_ops.state import FlightMode, GpsFix, LandedState, px4_mode
from drone_ops.tracker import TRACKED_MSGIDS, StateTracker


class _Sink:
    def write(self, _b: bytes) -> None:
        pass


def _mav(sysid: int = 1) -> Any:
    return m.MAVLink(_Sink(), srcSystem=sysid, srcComponent=1)


def _feed(tracker: StateTracker, data: bytes) -> None:
    dec = FrameDecoder(TRACKED_MSGIDS)
    for f in FrameSplitter(stream=False).feed(data):
        msg = dec.decode(f)
        if msg is not None:
            tracker.handle(f.msgid, msg)


def test_splitter_handles_several_frames_per_datagram_and_noise() -> None:
    mav = _mav()
    a = m.MAVLink_heartbeat_message(2, 12, 29, 0x03040000, 3, 3).pack(mav)
    b = m.MAVLink_global_position_int_message(5, 1, 2, 3, 4, 5, 6, 7, 8).pack(mav)
    sp = FrameSplitter(stream=False)
    frames = sp.feed(b"\x00\x11" + a + b + a[:5])
    assert [f.msgid for f in frames] == [0, 33]
    assert sp.skipped_bytes == 2 + 5  # leading noise and the truncated tail


def test_stream_splitter_joins_frames_split_across_reads() -> None:
    data = m.MAVLink_heartbeat_message(2, 12, 29, 0, 3, 3).pack(_mav())
    sp = FrameSplitter(stream=True)
    assert sp.feed(data[:7]) == []
    frames = sp.feed(data[7:])
    assert len(frames) == 1
    assert frames[0].raw == data


def test_decoder_rejects_corrupted_crc() -> None:
    data = bytearray(m.MAVLink_global_position_int_message(5, 1, 2, 3, 4, 5, 6, 7, 8).pack(_mav()))
    data[12] ^= 0xFF
    dec = FrameDecoder(TRACKED_MSGIDS)
    (frame,) = FrameSplitter(stream=False).feed(bytes(data))
    assert dec.decode(frame) is None
    assert dec.crc_errors == 1


def test_loss_from_sequence_gaps() -> None:
    c = LinkCounters()
    for seq in (250, 251, 252, 255, 0, 1):  # 253 and 254 lost, wrap-around is not loss
        c.count(1, 1, seq)
    snap = c.snapshot()
    assert snap.lost == 2
    assert snap.messages == 6
    assert abs(snap.loss_pct - 25.0) < 1e-9


def test_reordered_frames_are_not_loss() -> None:
    c = LinkCounters()
    for seq in (38, 39, 41, 40, 43, 44):  # 40 comes late, 42 never comes
        c.count(1, 1, seq)
    assert c.snapshot().lost == 1


def test_target_system_of_outgoing_frames() -> None:
    gcs = m.MAVLink(_Sink(), srcSystem=245, srcComponent=190)
    cmd = m.MAVLink_command_long_message(7, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0).pack(gcs)
    hb = m.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3).pack(gcs)
    item = m.MAVLink_mission_count_message(3, 0, 4, 0).pack(gcs)
    (f1,) = FrameSplitter(stream=False).feed(cmd)
    (f2,) = FrameSplitter(stream=False).feed(hb)
    (f3,) = FrameSplitter(stream=False).feed(item)
    assert frame_target_system(f1) == 7
    assert frame_target_system(f2) == 0
    assert frame_target_system(f3) == 3


def test_px4_modes_and_unknown_values() -> None:
    assert px4_mode(157, 0x04040000) is FlightMode.AUTO_MISSION
    assert px4_mode(29, 0x03040000) is FlightMode.AUTO_LOITER
    assert px4_mode(81, 0x00030000) is FlightMode.POSCTL
    assert px4_mode(157, 0x63040000) is FlightMode.UNKNOWN  # unknown AUTO sub-mode
    assert px4_mode(0, 0x04040000) is FlightMode.UNKNOWN  # custom mode flag not set
    assert LandedState.from_mavlink(42) is LandedState.UNKNOWN
    assert GpsFix.from_mavlink(99) is GpsFix.UNKNOWN


def test_tracker_builds_state_and_sample() -> None:
    mav = _mav()
    t = StateTracker("v1")
    data = b"".join(
        msg.pack(mav)
        for msg in (
            m.MAVLink_heartbeat_message(2, 12, 157, 0x04040000, 4, 3),
            m.MAVLink_extended_sys_state_message(0, 2),
            m.MAVLink_global_position_int_message(
                12_000, 473977430, 85455940, 499400, 10000, 300, -400, 0, 9000
            ),
            m.MAVLink_gps_raw_int_message(0, 3, 0, 0, 0, 0, 0, 0, 0, 11),
            m.MAVLink_sys_status_message(
                0x10000020, 0x10000020, 0x10000000, 0, 15800, 0, 73, 0, 0, 0, 0, 0, 0
            ),
            m.MAVLink_mission_current_message(2, 5),
            m.MAVLink_statustext_message(4, b"Arming denied: no GPS"),
        )
    )
    _feed(t, data)
    s = t.snapshot()
    assert s.mode is FlightMode.AUTO_MISSION
    assert s.armed
    assert s.landed is LandedState.IN_AIR
    assert s.in_air
    assert abs(s.lat_deg - 47.397743) < 1e-9
    assert s.rel_alt_m == 10.0
    assert s.ground_speed_m_s == 5.0
    assert s.gps_fix is GpsFix.FIX_3D
    assert s.satellites == 11
    assert s.battery_pct == 73
    assert s.battery_v == 15.8
    assert s.health_ok is False
    assert s.health_failures == ("SENSOR_GPS",)
    assert (s.mission_seq, s.mission_total) == (2, 5)
    assert s.last_message == "Arming denied: no GPS"
    sample = t.sample()
    assert sample.mode == "AUTO.MISSION"
    assert sample.gps_fix == 3
    assert sample.vehicle_id == "v1"
    assert t.snapshot() is s  # cached until the next message


def test_tracker_notices_reboot() -> None:
    mav = _mav()
    t = StateTracker("v1")
    seen: list[int] = []
    t.on_reboot = lambda: seen.append(1)
    for boot_ms in (600_000, 601_000, 2_000):
        _feed(t, m.MAVLink_global_position_int_message(boot_ms, 0, 0, 0, 0, 0, 0, 0, 0).pack(mav))
    assert t.snapshot().reboots == 1
    assert seen == [1]


def test_long_statustext_chunks_are_joined() -> None:
    mav = _mav()
    t = StateTracker("v1")
    first = b"Preflight Fail: ekf2 missing data, check GPS and ma"  # 51 > 50: cut at 50
    _feed(t, m.MAVLink_statustext_message(3, first[:50], 7, 0).pack(mav))
    _feed(t, m.MAVLink_statustext_message(3, b"gnetometer", 7, 1).pack(mav))
    assert t.snapshot().last_message == first[:50].decode() + "gnetometer"
