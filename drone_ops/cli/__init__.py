"""`drone-ops` command line: the composition root.

Each command group lives in its own module under `drone_ops.cli` and exposes
`register(subparsers)`. Handlers return an exit code. Errors that a user can
act on (our packages' error hierarchies) are printed as one line, never as a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from drone_ops.cli._common import USER_ERRORS, Handler

__all__ = ["build_parser", "main"]

# Command groups, in the order `--help` lists them. Each module registers its
# own subcommands so that unrelated commands never share a file.
_COMMAND_MODULES = (
    "drone_ops.cli.demo",
    "drone_ops.cli.sim",
    "drone_ops.cli.fly",
    "drone_ops.cli.plan",
    "drone_ops.cli.watch",
    "drone_ops.cli.incidents",
    "drone_ops.cli.audit",
    "drone_ops.cli.tui",
    "drone_ops.cli.schedule",
    "drone_ops.cli.dispatch",
    "drone_ops.cli.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drone-ops",
        description="Drone patrol control and telemetry.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command group not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("drone-ops: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        print(f"drone-ops {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # ports taken, files missing, disk full: say which
        print(f"drone-ops {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
