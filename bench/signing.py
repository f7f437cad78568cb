"""What MAVLink 2 signing costs per frame, on both sides of the link.

Frames are a PX4-like telemetry mix framed by the simulator's own `Framer`.
Each figure is CPU per frame, and a ratio against a baseline measured in the
same run:

  controller  receive path: `FrameSplitter` alone (baseline) vs splitter +
              `LinkVerifier.accept` (SHA-256 over the frame, replay check);
              send path: `LinkSigner.sign` (CRC redone + SHA-256) per frame.
  simulator   framing unsigned (baseline) vs framing with the flag + `seal`.

    .venv/bin/python bench/signing.py [--frames 50000]
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable

from drone_ops.link.frames import FrameSplitter
from drone_ops.link.signing import LinkSigner, LinkVerifier
from sitl.codec import Framer, mavlink
from sitl.signing import SimSigning


def _cpu_per_call_us(fn: Callable[[], None], calls: int) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    n = parser.parse_args().frames
    key = secrets.token_bytes(32)

    def telemetry(framer: Framer, i: int) -> bytes:
        if i % 3 == 0:
            return framer.frame(mavlink.MAVLink_attitude_message, i, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0)
        if i % 3 == 1:
            return framer.frame(
                mavlink.MAVLink_global_position_int_message, i, 473977430, 85455940,
                489400, 15000, 10, 20, -5, 9000,
            )  # fmt: skip
        return framer.frame(mavlink.MAVLink_heartbeat_message, 2, 12, 157, 0x5F, 4, 3)

    plain_framer = Framer(1, 1)
    signing = SimSigning(sysid=1, key=key)
    signed_framer = Framer(1, 1, signing=signing, link_id=1)

    def frame_plain() -> None:
        for i in range(n):
            telemetry(plain_framer, i)

    signed: list[bytes] = []

    def frame_signed() -> None:
        for i in range(n):
            signed.append(signing.seal(telemetry(signed_framer, i), 1))

    sim_base = _cpu_per_call_us(frame_plain, n)
    sim_signed = _cpu_per_call_us(frame_signed, n)

    datagrams = [b"".join(signed[i : i + 10]) for i in range(0, len(signed), 10)]

    def split_only() -> None:
        splitter = FrameSplitter(stream=False)
        for d in datagrams:
            splitter.feed(d)

    def split_verify() -> None:
        splitter = FrameSplitter(stream=False)
        verifier = LinkVerifier(key)
        for d in datagrams:
            for frame in splitter.feed(d):
                verifier.accept(frame)
        assert verifier.accepted_signed == len(signed), verifier.stats()

    rx_base = _cpu_per_call_us(split_only, len(signed))
    rx_verify = _cpu_per_call_us(split_verify, len(signed))

    plain = [telemetry(plain_framer, i) for i in range(n)]
    signer = LinkSigner(key)

    def sign_all() -> None:
        for f in plain:
            signer.sign(f)

    tx_sign = _cpu_per_call_us(sign_all, n)

    print(f"signing bench: {n} frames, CPU µs per frame")
    print(
        f"  controller receive  split only {rx_base:6.2f}   split+verify {rx_verify:6.2f}"
        f"   ratio {rx_verify / rx_base:5.2f}x   (+{rx_verify - rx_base:.2f} µs)"
    )
    print(f"  controller send     sign {tx_sign:6.2f} µs per frame (MAVSDK's frames, low rate)")
    print(
        f"  simulator framing   unsigned {sim_base:6.2f}   signed {sim_signed:6.2f}"
        f"   ratio {sim_signed / sim_base:5.2f}x   (+{sim_signed - sim_base:.2f} µs)"
    )


if __name__ == "__main__":
    main()
