"""`drone-ops sim` (built-in PX4-compatible simulator) and `drone-ops px4`
(real PX4 SITL SIH instances), both on PX4's SITL ports.

The simulator is imported lazily inside the handlers (only the CLI may start
it), and its errors are translated to `DroneOpsError` here, at the boundary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from drone_ops.cli._common import Subparsers, run_async
from drone_ops.errors import DroneOpsError

if TYPE_CHECKING:
    from sitl import SimConfig
    from sitl.signing import SimSigning

__all__ = ["register"]

_STATUS_EVERY_S = 10.0


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser(
        "sim",
        help="run simulated PX4 quadrotors on PX4's SITL ports until Ctrl-C",
        description=(
            "Run N PX4-compatible simulated quadrotors in one process. Vehicle i has "
            "system id 1+i; its API link listens on UDP 14580+i and streams to 14540+i "
            "(MAVSDK: udpin://0.0.0.0:14540+i); its GCS link listens on 18570+i and "
            "streams to 14550 (QGroundControl)."
        ),
    )
    sim.add_argument("--count", default="1", metavar="N", help="vehicles (default: 1)")
    sim.add_argument(
        "--speedup", default="1", metavar="K", help="simulated seconds per wall second (default: 1)"
    )
    sim.add_argument(
        "--home",
        default=None,
        metavar="LAT,LON,ALT_M",
        help="home of vehicle 0, AMSL metres (default: PX4's 47.397743,8.545594,489.4); "
        "the others stand 5 m apart to the east",
    )
    sim.add_argument(
        "--wind",
        default="0,0",
        metavar="SPEED_MS,DIR_DEG",
        help="mean wind speed and the direction it blows from (default: 0,0)",
    )
    sim.add_argument("--seed", default="0", metavar="S", help="random seed (default: 0)")
    sim.add_argument(
        "--loss", default="0", metavar="PCT", help="drop this percentage of packets both ways"
    )
    # --video: one simulated camera per vehicle (sitl.camera; video engineer's hook)
    sim.add_argument(
        "--video",
        action="store_true",
        help="give each vehicle a downward camera: RTP/H.264 640x480@15 to UDP 5600+i, "
        "with an SDP file per vehicle in --video-dir",
    )
    sim.add_argument(
        "--video-dir",
        default="var/video",
        metavar="DIR",
        help="where vehicle-<i>.sdp files are written (default: var/video)",
    )
    sim.add_argument(
        "--signing-key",
        metavar="FILE",
        help="sign every frame with this key and ignore unsigned commands (MAVLink 2 signing)",
    )
    sim.add_argument(
        "--key-dir",
        metavar="DIR",
        help="per-vehicle keys: vehicle i signs with DIR/v<i+1>.key when it exists, and "
        "keeps a new key it is sent (keys rotate) there, as PX4 keeps it on its SD card",
    )
    sim.set_defaults(handler=_sim)

    px4 = sub.add_parser(
        "px4",
        help="run real PX4 SITL instances (SIH quadrotor, headless) on the same ports",
        description=(
            "Start N PX4 SITL instances (build/px4_sitl_default/bin/px4 -i I, airframe "
            "10040 sihsim_quadx) until Ctrl-C. Needs a PX4-Autopilot checkout built with "
            "'make px4_sitl_default'."
        ),
    )
    px4.add_argument("--count", default="1", metavar="N", help="instances (default: 1)")
    px4.add_argument(
        "--px4-dir",
        default=os.environ.get("PX4_DIR"),
        metavar="DIR",
        help="PX4-Autopilot checkout (default: $PX4_DIR)",
    )
    px4.add_argument(
        "--speedup", default="1", metavar="K", help="PX4_SIM_SPEED_FACTOR (default: 1)"
    )
    px4.set_defaults(handler=_px4)


# ------------------------------------------------------------------ parsing
def _number(text: str, option: str, *, integer: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise DroneOpsError(f"{option} {text!r} is not {kind}") from None
    if not math.isfinite(value):
        raise DroneOpsError(f"{option} {text!r} must be finite")
    return value


def _numbers(text: str, option: str, names: str, count: int) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != count:
        raise DroneOpsError(f"{option} {text!r}: give {names} separated by commas")
    return [_number(p, option) for p in parts]


@contextlib.contextmanager
def _sitl_errors() -> Iterator[None]:
    """Translate the simulator's user-facing errors at the boundary."""
    from sitl import SitlError

    try:
        yield
    except SitlError as exc:
        raise DroneOpsError(str(exc)) from exc


def _config(args: argparse.Namespace) -> SimConfig:
    from sitl import DEFAULT_HOME, SimConfig

    count = int(_number(args.count, "--count", integer=True))
    speedup = _number(args.speedup, "--speedup")
    home = DEFAULT_HOME
    if args.home is not None:
        lat, lon, alt = _numbers(args.home, "--home", "LAT,LON,ALT_M", 3)
        home = (lat, lon, alt)
    speed, direction = _numbers(args.wind, "--wind", "SPEED_MS,DIR_DEG", 2)
    seed = int(_number(args.seed, "--seed", integer=True))
    loss = _number(args.loss, "--loss")
    key, keys = _signing(args, count)
    with _sitl_errors():
        return SimConfig(
            count=count,
            speedup=speedup,
            home=home,
            wind=(speed, direction),
            seed=seed,
            loss_pct=loss,
            signing_key=key,
            signing_keys=keys,
        )


def _signing(
    args: argparse.Namespace, count: int
) -> tuple[bytes | None, list[bytes | None] | None]:
    """--signing-key: one key for every vehicle; --key-dir: v<i+1>.key per vehicle."""

    from drone_ops.keys import KeyStore, read_key_file

    if getattr(args, "signing_key", None):
        return read_key_file(Path(args.signing_key)), None
    if getattr(args, "key_dir", None):
        store = KeyStore(Path(args.key_dir))
        return None, [store.load_optional(f"v{i + 1}") for i in range(count)]
    return None, None


# ------------------------------------------------------------------ running
@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by Ctrl-C or SIGTERM, installed before anything starts so
    that a signal during start-up also stops cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def keep_rotated_keys(signing: Sequence[SimSigning], key_dir: Path) -> None:
    """Vehicle i keeps a key SETUP_SIGNING gives it in `key_dir`/v<i+1>.key, as PX4 keeps
    its key on the SD card: restarted, it still signs with the key its controller has."""
    from drone_ops.keys import KeyStore

    keys = KeyStore(key_dir)
    for i, vehicle in enumerate(signing):

        def keep(key: bytes | None, name: str = f"v{i + 1}") -> None:
            try:
                if key is None:  # signing turned off
                    keys.path(name).unlink(missing_ok=True)
                else:
                    keys.save(name, key)
            except (OSError, DroneOpsError) as exc:
                print(f"sim: could not keep the new key of {name}: {exc}", file=sys.stderr)

        vehicle.on_key_change = keep


def _sim(args: argparse.Namespace) -> int:
    config = _config(args)

    async def main() -> int:
        from sitl import SimFleet

        with _stop_on_signals() as stop, _sitl_errors():
            async with SimFleet(config) as fleet:
                if getattr(args, "key_dir", None) and not getattr(args, "signing_key", None):
                    keep_rotated_keys(fleet.signing, Path(args.key_dir))
                for v in fleet.vehicles:
                    p = v.ports
                    print(
                        f"vehicle {v.system_id}: API udp :{p.api_local} -> 127.0.0.1:{p.api_remote}"
                        f" (MAVSDK udpin://0.0.0.0:{p.api_remote}), "
                        f"GCS udp :{p.gcs_local} -> 127.0.0.1:{p.gcs_remote}",
                        flush=True,
                    )
                print(
                    f"sim: {len(fleet.vehicles)} vehicle(s) at {config.speedup:g}x; Ctrl-C to stop",
                    flush=True,
                )
                async with contextlib.AsyncExitStack() as video:
                    if args.video:
                        from sitl.camera import FleetCameras

                        sdp_dir = Path(args.video_dir)
                        await video.enter_async_context(FleetCameras(fleet, sdp_dir=sdp_dir))
                        for v in fleet.vehicles:
                            print(
                                f"vehicle {v.system_id}: video rtp 127.0.0.1:{v.ports.video}"
                                f" ({sdp_dir / f'vehicle-{v.index}.sdp'})",
                                flush=True,
                            )
                    async with asyncio.TaskGroup() as tg:
                        status = tg.create_task(_report(fleet), name="sim-status")
                        await stop.wait()
                        status.cancel()
                print(f"sim: stopped at t={fleet.clock.time_s():.1f} s simulated", flush=True)
        return 0

    return run_async(main)


async def _report(fleet: object) -> None:
    from sitl import SimFleet

    assert isinstance(fleet, SimFleet)
    while True:
        await asyncio.sleep(_STATUS_EVERY_S)
        flying = sum(1 for v in fleet.vehicles if v.armed)
        print(
            f"sim: t={fleet.clock.time_s():.1f} s, real-time factor "
            f"{fleet.real_time_factor():.2f}, {flying}/{len(fleet.vehicles)} armed",
            file=sys.stderr,
            flush=True,
        )


def _px4(args: argparse.Namespace) -> int:
    count = int(_number(args.count, "--count", integer=True))
    speedup = _number(args.speedup, "--speedup")
    if not 1 <= count <= 100:
        raise DroneOpsError(f"--count {count} is out of range: use 1..100 instances")

    async def main() -> int:
        from sitl import Px4Sitl

        with _stop_on_signals() as stop, _sitl_errors():
            async with Px4Sitl(count=count, px4_dir=args.px4_dir, speedup=speedup) as px4:
                for i, p in enumerate(px4.ports):
                    print(
                        f"px4 instance {i} (system id {i + 1}): MAVSDK udpin://0.0.0.0:"
                        f"{p.api_remote}, GCS -> 127.0.0.1:{p.gcs_remote}",
                        flush=True,
                    )
                await stop.wait()
        return 0

    return run_async(main)
