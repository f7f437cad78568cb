"""`drone-ops audit verify|show`: check and read the tamper-evident audit chain."""

from __future__ import annotations

import argparse
import json

from drone_ops.cli._common import Subparsers, run_async
from drone_ops.cli.incidents import add_store_args, store_config

__all__ = ["register"]


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("audit", help="verify or read the audit chain")
    gsub = group.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = gsub.add_parser(
        "verify",
        help="recompute the chain and every evidence file's SHA-256 (exit 1 on a mismatch)",
    )
    add_store_args(verify, actor=False)
    verify.set_defaults(handler=_verify)

    show = gsub.add_parser("show", help="print audit entries as JSON lines, oldest first")
    show.add_argument("--target", help="only entries about this target, e.g. incident:3")
    show.add_argument("--after", type=int, default=0, metavar="SEQ", help="entries after SEQ")
    show.add_argument("--limit", type=int, default=100)
    add_store_args(show, actor=False)
    show.set_defaults(handler=_show)


def _verify(args: argparse.Namespace) -> int:
    from drone_ops.store import open_store
    from drone_ops.store.verify import verify_store

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            report = await verify_store(store)
        print(f"audit verify {store.config.display()}: {report.summary()}")
        return 0 if report.ok else 1

    return run_async(main)


def _show(args: argparse.Namespace) -> int:
    from drone_ops.store import open_store

    async def main() -> int:
        async with open_store(store_config(args)) as store:
            entries = await store.audit.entries(
                target=args.target, after_seq=args.after, limit=args.limit
            )
        for e in entries:
            print(
                json.dumps(
                    {
                        "seq": e.seq,
                        "time_utc": e.time_utc.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "target": e.target,
                        "payload": dict(e.payload),
                        "prev_hash": e.prev_hash,
                        "hash": e.hash,
                    },
                    ensure_ascii=False,
                )
            )
        return 0

    return run_async(main)
