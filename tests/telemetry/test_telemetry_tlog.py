"""The .tlog recorder and reader: pymavlink must read what we write, byte for byte."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pymavlink.dialects.v10 import common as mavlink1
from pymavlink.dialects.v20 import common as mavlink2

from telemetry import TlogError, TlogRecorder, TlogWriter, read_tlog, slice_tlog

T0 = 1_800_000_000_000_000  # µs since the epoch


def frames(n: int, system_id: int = 1) -> list[bytes]:
    """Real MAVLink 2 frames as a vehicle sends them: heartbeats and positions."""
    mav = mavlink2.MAVLink(None, srcSystem=system_id, srcComponent=1)
    out = []
    for i in range(n):
        if i % 5 == 0:
            msg = mav.heartbeat_encode(2, 12, 0x81, 0, 4)
        else:
            msg = mav.global_position_int_encode(
                i * 20, 470_000_000 + i, 80_000_000, 500_000, 30_000, 0, 0, 0, 9_000
            )
        out.append(msg.pack(mav))
    return out


def signed_frame() -> bytes:
    mav = mavlink2.MAVLink(None, srcSystem=1, srcComponent=1)
    mav.signing.secret_key = bytes(range(32))
    mav.signing.link_id = 0
    mav.signing.timestamp = 1
    mav.signing.sign_outgoing = True
    return bytes(mav.attitude_encode(100, 0.1, 0.2, 0.3, 0, 0, 0).pack(mav))


def mavlink1_frame() -> bytes:
    mav = mavlink1.MAVLink(None, srcSystem=1, srcComponent=1)
    return bytes(mav.sys_status_encode(0, 0, 0, 500, 15_800, -1, 87, 0, 0, 0, 0, 0, 0).pack(mav))


PYMAVLINK_READER = """
import json, sys
from pymavlink import mavutil
log = mavutil.mavlink_connection(sys.argv[1])
out = []
while True:
    msg = log.recv_msg()
    if msg is None:
        break
    out.append([msg.get_type(), round(msg._timestamp * 1e6), msg.get_srcSystem()])
print(json.dumps(out))
"""


def read_with_mavutil(path: Path) -> list[list[object]]:
    """pymavlink's own tlog reader, in a child process: it switches dialects through
    process-wide globals that must not leak into other tests."""
    proc = subprocess.run(
        [sys.executable, "-c", PYMAVLINK_READER, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: list[list[object]] = json.loads(proc.stdout)
    return result


async def test_pymavlink_reads_our_tlog_back_with_our_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "s1.tlog"
    sent = [*frames(20), signed_frame(), mavlink1_frame()]
    times = [T0 + i * 20_000 for i in range(len(sent))]
    async with TlogWriter(path) as tlog:
        for frame, t in zip(sent, times, strict=True):
            tlog.write(frame, t)
        assert tlog.frames == len(sent)

    expected_types = ["HEARTBEAT" if i % 5 == 0 else "GLOBAL_POSITION_INT" for i in range(20)]
    expected_types += ["ATTITUDE", "SYS_STATUS"]
    theirs = await asyncio.to_thread(read_with_mavutil, path)
    assert [row[0] for row in theirs] == expected_types
    assert [row[1] for row in theirs] == times
    assert {row[2] for row in theirs} == {1}

    ours = list(read_tlog(path))
    assert [f.msg_type for f in ours] == expected_types
    assert [f.frame for f in ours] == sent, "frames are kept byte for byte, signature included"
    assert [f.time_unix_us for f in ours] == times
    assert ours[1].message.lat == 470_000_001


async def test_writes_from_another_thread_keep_their_order(tmp_path: Path) -> None:
    path = tmp_path / "threads.tlog"
    sent = frames(3_000)
    async with TlogWriter(path, flush_bytes=4_096) as tlog:

        def producer() -> None:  # e.g. a pymavlink receive thread
            for i, frame in enumerate(sent):
                tlog.write(frame, T0 + i)

        await asyncio.to_thread(producer)
    got = list(read_tlog(path))
    assert [f.frame for f in got] == sent
    assert [f.time_unix_us for f in got] == [T0 + i for i in range(3_000)]


async def test_flush_makes_frames_readable_while_recording_and_appends_never_truncate(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.tlog"
    async with TlogWriter(path, flush_interval_s=3600) as tlog:
        for i, frame in enumerate(frames(10)):
            tlog.write(frame, T0 + i)
        await tlog.flush()
        assert len(list(read_tlog(path))) == 10
    async with TlogWriter(path) as again:  # a restarted recorder appends
        again.write(frames(1)[0], T0 + 99)
    assert [f.time_unix_us for f in read_tlog(path)][-2:] == [T0 + 9, T0 + 99]


async def test_recorder_rotates_per_sortie_and_records_the_ground_time_too(
    tmp_path: Path,
) -> None:
    batch = frames(30)
    async with TlogRecorder(tmp_path, vehicle_id="v1") as rec:
        ground_before = rec.current_path
        for i in range(10):
            rec.write(batch[i], T0 + i)
        sortie_path = await rec.start_sortie("sortie-42")
        for i in range(10, 25):
            rec.write(batch[i], T0 + i)
        closed = await rec.end_sortie()
        ground_after = rec.current_path
        for i in range(25, 30):
            rec.write(batch[i], T0 + i)
    assert closed == sortie_path == tmp_path / "v1" / "sortie-42.tlog"
    assert ground_before is not None
    assert ground_after is not None
    assert ground_before != ground_after
    assert ground_before.name.startswith("ground-")
    assert [f.frame for f in read_tlog(ground_before)] == batch[:10]
    assert [f.frame for f in read_tlog(sortie_path)] == batch[10:25]
    assert [f.frame for f in read_tlog(ground_after)] == batch[25:]


async def test_recorder_refuses_names_that_are_not_file_names(tmp_path: Path) -> None:
    with pytest.raises(TlogError, match="cannot be a file name"):
        TlogRecorder(tmp_path, vehicle_id="../etc")
    async with TlogRecorder(tmp_path, vehicle_id="v1") as rec:
        with pytest.raises(TlogError, match=r"sortie id '\.\./x' cannot be a file name"):
            await rec.start_sortie("../x")
    with pytest.raises(TlogError, match="closed"):
        rec.write(b"\xfd")


async def test_slice_keeps_exactly_the_frames_between_two_times(tmp_path: Path) -> None:
    src = tmp_path / "sortie.tlog"
    sent = frames(100)
    async with TlogWriter(src) as tlog:
        for i, frame in enumerate(sent):
            tlog.write(frame, T0 + i * 100_000)  # 10 Hz
    dest = tmp_path / "evidence.tlog"
    count = await asyncio.to_thread(
        slice_tlog, src, dest, start_unix_us=T0 + 2_000_000, end_unix_us=T0 + 3_000_000
    )
    assert count == 11  # 2.0 s … 3.0 s inclusive
    assert [f.frame for f in read_tlog(dest)] == sent[20:31]
    theirs = await asyncio.to_thread(read_with_mavutil, dest)
    assert [row[1] for row in theirs] == [T0 + i * 100_000 for i in range(20, 31)]
    with pytest.raises(TlogError, match="never overwritten"):
        slice_tlog(src, dest, start_unix_us=T0, end_unix_us=T0 + 1)
    with pytest.raises(TlogError, match="ends before it starts"):
        slice_tlog(src, tmp_path / "x.tlog", start_unix_us=T0 + 1, end_unix_us=T0)


def test_a_truncated_last_record_ends_reading_and_garbage_is_refused(tmp_path: Path) -> None:
    good = b"".join((T0 + i).to_bytes(8, "big") + frame for i, frame in enumerate(frames(5)))
    cut = tmp_path / "crashed.tlog"
    cut.write_bytes(good + (T0 + 5).to_bytes(8, "big") + frames(1)[0][:7])
    assert len(list(read_tlog(cut))) == 5

    junk = tmp_path / "junk.tlog"
    junk.write_bytes(b"this is a text file, not a telemetry log at all\n" * 3)
    with pytest.raises(TlogError, match=r"is not a \.tlog"):
        list(read_tlog(junk))
    with pytest.raises(TlogError, match="cannot read tlog"):
        list(read_tlog(tmp_path / "missing.tlog"))
