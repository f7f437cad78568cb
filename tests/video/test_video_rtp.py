"""RTP/H.264 round trip without a network: the camera's packetizer against the
recorder's depacketizer, including FU-A fragments, capture times carried in
SEI, loss (damaged pictures are never passed on) and a camera restart."""

from __future__ import annotations

import numpy as np

from sitl.camera import H264Encoder
from sitl.camera.rtp import RtpPacketizer
from telemetry.video import AccessUnit, H264Depacketizer

T0_US = 1_750_000_000_000_000
PERIOD_US = 66_667


def encoded(count: int, *, gop_s: float = 0.4) -> list:
    rng = np.random.default_rng(5)
    encoder = H264Encoder(width_px=160, height_px=128, fps=15, gop_s=gop_s)
    base = rng.integers(0, 255, (128, 160, 3), dtype=np.uint8)
    frames = []
    for i in range(count):
        picture = np.roll(base, 4 * i, axis=1)
        frames += encoder.encode(picture, time_unix_us=T0_US + i * PERIOD_US)
    return frames


def depacketizer() -> H264Depacketizer:
    return H264Depacketizer(now_us=lambda: 0, now_mono_s=lambda: 0.0)


def test_access_units_and_capture_times_survive_the_round_trip() -> None:
    frames = encoded(12)
    packetizer = RtpPacketizer(max_payload=1000)
    rx = depacketizer()
    units: list[AccessUnit] = []
    packets = 0
    for frame in frames:
        for packet in packetizer.packets(frame):
            packets += 1
            units += rx.feed(packet)
    assert packets > len(frames)  # noise pictures need FU-A fragments
    assert [u.time_unix_us for u in units] == [f.time_unix_us for f in frames]
    assert [u.keyframe for u in units] == [f.keyframe for f in frames]
    assert units[0].keyframe
    assert [i for i, u in enumerate(units) if u.keyframe] == [0, 6]  # forced every 0.4 s
    # Same NAL units, now with start codes.
    for frame, unit in zip(frames, units, strict=True):
        assert unit.data == b"".join(b"\x00\x00\x00\x01" + n for n in frame.nal_units)
    assert rx.stats.lost_packets == 0


def test_a_lost_packet_discards_pictures_until_the_next_keyframe() -> None:
    frames = encoded(12)
    packetizer = RtpPacketizer(max_payload=1000)
    rx = depacketizer()
    units: list[AccessUnit] = []
    for n, frame in enumerate(frames):
        for k, packet in enumerate(packetizer.packets(frame)):
            if n == 2 and k == 1:
                continue  # lose one fragment of the third picture
            units += rx.feed(packet)
    next_key = next(i for i, f in enumerate(frames) if i > 2 and f.keyframe)
    got = [u.time_unix_us for u in units]
    assert got == [f.time_unix_us for f in frames[:2] + frames[next_key:]]
    assert rx.stats.lost_packets == 1
    assert rx.stats.discarded_units == next_key - 2


def test_a_restarted_camera_is_followed_from_its_first_keyframe() -> None:
    rx = depacketizer()
    first = RtpPacketizer()
    units = [u for f in encoded(3) for p in first.packets(f) for u in rx.feed(p)]
    second = RtpPacketizer()  # new SSRC and sequence numbers
    units += [u for f in encoded(3) for p in second.packets(f) for u in rx.feed(p)]
    assert len(units) == 6
    assert units[3].keyframe
    assert {u.ssrc for u in units} == {first.ssrc, second.ssrc}
    assert rx.stats.sources == 2
    assert rx.stats.lost_packets == 0


def test_a_stream_without_capture_times_is_timed_by_arrival_and_rtp_clock() -> None:
    frames = encoded(4)
    rx = H264Depacketizer(now_us=lambda: 42_000_000, now_mono_s=lambda: 0.0)
    packetizer = RtpPacketizer()
    units = []
    for frame in frames:
        without_sei = type(frame)(
            time_unix_us=frame.time_unix_us,
            rtp_timestamp=frame.rtp_timestamp,
            keyframe=frame.keyframe,
            nal_units=tuple(n for n in frame.nal_units if n[0] & 0x1F != 6),
        )
        for packet in packetizer.packets(without_sei):
            units += rx.feed(packet)
    assert units[0].time_unix_us == 42_000_000
    # Later pictures follow the 90 kHz RTP clock from that anchor.
    assert abs(units[3].time_unix_us - (42_000_000 + 3 * PERIOD_US)) <= 12


def test_garbage_on_the_video_port_is_counted_not_raised() -> None:
    rx = depacketizer()
    assert rx.feed(b"\x00\x01") == []
    assert rx.feed(b"\x80\x60" + b"\x00" * 10) == []  # a header and nothing else
    assert rx.stats.malformed == 1
