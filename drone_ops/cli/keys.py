"""`drone-ops keys generate|rotate|list`: per-vehicle MAVLink signing keys.

Keys live outside the repository (default `~/.config/drone-ops/keys`, or
`--key-dir`), one `<vehicle>.key` per vehicle, mode 0600. Every change is an
audit entry carrying fingerprints only.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from drone_ops.cli._common import DEFAULT_STORE_URL, Subparsers, add_role_arg, principal, run_async
from drone_ops.cli.incidents import default_actor

__all__ = ["add_key_dir_arg", "add_signing_args", "register", "signing_key_for"]


def add_key_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--key-dir",
        type=Path,
        metavar="DIR",
        help="signing keys, one VEHICLE.key each (default ~/.config/drone-ops/keys, "
        "or $DRONE_OPS_KEY_DIR)",
    )


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        default=DEFAULT_STORE_URL,
        metavar="URL",
        help=f"where the key change is audited (default {DEFAULT_STORE_URL})",
    )
    p.add_argument("--actor", default=default_actor(), metavar="NAME", help="who, for the audit")
    add_role_arg(p)


def _may_manage_keys(args: argparse.Namespace) -> None:
    """Only a supervisor manages keys: checked before a key file is touched; a refusal
    is written to the audit chain (drone_ops.roles)."""
    from drone_ops.roles import Action, check
    from drone_ops.store import StoreConfig, open_store

    who = principal(args)

    async def main() -> int:
        async with open_store(StoreConfig(url=args.store)) as store:
            await check(
                who, Action.MANAGE_KEYS, audit=store.audit, target=f"vehicle:{args.vehicle}"
            )
        return 0

    run_async(main)


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("keys", help="MAVLink signing keys per vehicle: generate, rotate, list")
    gsub = group.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    gen = gsub.add_parser(
        "generate", help="make a new key for a vehicle (give it to the vehicle/simulator)"
    )
    gen.add_argument("vehicle", metavar="VEHICLE")
    gen.add_argument("--force", action="store_true", help="replace an existing key file")
    add_key_dir_arg(gen)
    _store_args(gen)
    gen.set_defaults(handler=_generate)

    rot = gsub.add_parser(
        "rotate",
        help="send the vehicle a new key (SETUP_SIGNING signed with the old one), then keep it",
    )
    rot.add_argument("vehicle", metavar="VEHICLE")
    rot.add_argument(
        "--connect", required=True, metavar="URL", help="the vehicle's link, e.g. udpin://:14540"
    )
    rot.add_argument("--timeout", type=float, default=10.0, metavar="S")
    add_key_dir_arg(rot)
    _store_args(rot)
    rot.set_defaults(handler=_rotate)

    ls = gsub.add_parser("list", help="vehicles with keys and their fingerprints")
    add_key_dir_arg(ls)
    ls.set_defaults(handler=_list)


def _generate(args: argparse.Namespace) -> int:
    from drone_ops.keys import KeyStore, fingerprint, record_key_change
    from drone_ops.store import StoreConfig, open_store

    _may_manage_keys(args)
    keys = KeyStore(args.key_dir)
    key = keys.generate(args.vehicle, overwrite=args.force)
    fp = fingerprint(key)

    async def main() -> int:
        async with open_store(StoreConfig(url=args.store)) as store:
            await record_key_change(
                store.audit,
                actor=args.actor,
                action="key.generated",
                vehicle_id=args.vehicle,
                payload={"fingerprint": fp, "replaced": bool(args.force)},
            )
        print(f"key for {args.vehicle}: {keys.path(args.vehicle)} (fingerprint {fp})")
        return 0

    return run_async(main)


def _rotate(args: argparse.Namespace) -> int:
    from drone_ops.keys import KeyStore, rotate_key
    from drone_ops.link.address import parse_address
    from drone_ops.store import StoreConfig, open_store

    _may_manage_keys(args)
    keys = KeyStore(args.key_dir)
    address = parse_address(args.connect)
    keys.path(args.vehicle)  # a bad name is refused before anything is sent

    async def main() -> int:
        async with open_store(StoreConfig(url=args.store)) as store:
            old_fp, new_fp = await rotate_key(
                keys,
                args.vehicle,
                address,
                audit=store.audit,
                actor=args.actor,
                timeout_s=args.timeout,
            )
        print(f"key for {args.vehicle} rotated: {old_fp} → {new_fp}")
        return 0

    return run_async(main)


def _list(args: argparse.Namespace) -> int:
    from drone_ops.keys import KeyStore

    keys = KeyStore(args.key_dir)
    infos = keys.list()
    if not infos:
        print(f"no keys in {keys.directory}")
        return 0
    for info in infos:
        when = datetime.fromtimestamp(info.modified_unix_s, UTC).strftime("%Y-%m-%d %H:%M")
        print(f"{info.vehicle_id:<16} {info.fingerprint}  {when} UTC  {info.path}")
    return 0


def add_signing_args(p: argparse.ArgumentParser) -> None:
    """`--signing-key FILE` / `--key-dir DIR` for commands that open vehicle links."""
    p.add_argument(
        "--signing-key",
        type=Path,
        metavar="FILE",
        help="sign the vehicle link (MAVLink 2) with this key file (mode 0600)",
    )
    add_key_dir_arg(p)


def signing_key_for(args: argparse.Namespace, vehicle_id: str) -> bytes | None:
    """The key a vehicle's link is signed with: --signing-key, else VEHICLE.key in
    --key-dir or the default key directory; None (unsigned) when there is none."""
    from drone_ops.keys import KeyStore, read_key_file

    if args.signing_key is not None:
        return read_key_file(args.signing_key)
    return KeyStore(args.key_dir).load_optional(vehicle_id)
