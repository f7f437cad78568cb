"""`drone-ops watch`: print the live MQTT stream of a fleet or a vehicle, one line each."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from drone_ops.cli._common import Subparsers, run_async

__all__ = ["register"]

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "watch",
        help="print the live telemetry, state, events and incidents from the MQTT broker",
        description=(
            "Subscribe to drone-ops/<fleet>/... on the broker and print one line per "
            "message until Ctrl-C. The password, if any, is read from the "
            "DRONE_OPS_MQTT_PASSWORD environment variable, never from the command line."
        ),
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("DRONE_OPS_MQTT", DEFAULT_BROKER),
        metavar="URL",
        help="mqtt://host:port or mqtts://host:port (default: $DRONE_OPS_MQTT or %(default)s)",
    )
    parser.add_argument("--fleet", help="only this fleet (default: every fleet)")
    parser.add_argument("--vehicle", help="only this vehicle")
    parser.add_argument("--username", help="broker user name")
    parser.add_argument("--ca-file", type=Path, help="CA certificate(s) for mqtts:// (PEM)")
    parser.add_argument("--cert", type=Path, help="client certificate for mutual TLS (PEM)")
    parser.add_argument("--key", type=Path, help="client private key for mutual TLS (PEM)")
    parser.add_argument(
        "--count", type=int, metavar="N", help="exit after N messages (default: run until Ctrl-C)"
    )
    parser.set_defaults(handler=_watch)


def _watch(args: argparse.Namespace) -> int:
    from telemetry.mqtt_config import MqttConfig, TlsConfig
    from telemetry.mqtt_watch import watch

    tls = None
    if args.ca_file is not None or args.cert is not None or args.broker.startswith("mqtts:"):
        tls = TlsConfig(ca_file=args.ca_file, cert_file=args.cert, key_file=args.key)
    config = MqttConfig.from_url(args.broker, tls=tls)
    username = args.username or config.username
    password = os.environ.get("DRONE_OPS_MQTT_PASSWORD") or config.password
    if username != config.username or password != config.password:
        config = MqttConfig(
            host=config.host,
            port=config.port,
            username=username,
            password=password if username is not None else None,
            tls=config.tls,
        )
    if args.count is not None and args.count < 1:
        print("drone-ops watch: error: --count must be at least 1", file=sys.stderr)
        return 2

    async def main() -> int:
        seen = 0
        lines = watch(config, fleet=args.fleet, vehicle_id=args.vehicle)
        async with contextlib.aclosing(lines):
            async for line in lines:
                print(line, flush=True)
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
        return 0

    try:
        return run_async(main)
    except KeyboardInterrupt:  # Ctrl-C is how a watch ends
        return 0
