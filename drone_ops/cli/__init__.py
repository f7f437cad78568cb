"""`drone-ops` command line: the composition root.

Each command group lives in its own module under `drone_ops.cli` and exposes
`register(subparsers)`. Handlers return an exit code. Errors that a user can
act on (our packages' error hierarchies) are printed as one line, never as a
traceback; anything else is a bug and keeps its traceback.

Startup stays cheap: the top-level parser knows every command's name and help
line from `COMMANDS` below, and imports only the module of the command being
run (a test checks the table against what the modules register). Modules keep
heavy imports (store, fleet, MAVSDK, video, Textual) inside their handlers.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from drone_ops.cli._common import Handler, user_errors

__all__ = ["COMMANDS", "build_parser", "main"]

# Command name → (module that registers it, its help line), in the order `--help`
# lists them. Each module registers its own subcommands so that unrelated commands
# never share a file.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "drone_ops.cli.demo",
        "fly a simulated fleet on patrols, recorded in ./var (no services needed)",
    ),
    "sim": ("drone_ops.cli.sim", "run simulated PX4 quadrotors on PX4's SITL ports until Ctrl-C"),
    "px4": (
        "drone_ops.cli.sim",
        "run real PX4 SITL instances (SIH quadrotor, headless) on the same ports",
    ),
    "fly": ("drone_ops.cli.fly", "fly one patrol plan headless, with a progress display"),
    "status": ("drone_ops.cli.fly", "print a one-shot table of the vehicles' state"),
    "plan": ("drone_ops.cli.plan", "generate, check and show patrol plans"),
    "watch": (
        "drone_ops.cli.watch",
        "print the live telemetry, state, events and incidents from the MQTT broker",
    ),
    "incidents": ("drone_ops.cli.incidents", "list, show, acknowledge, resolve, export incidents"),
    "audit": ("drone_ops.cli.audit", "verify or read the audit chain"),
    "tui": (
        "drone_ops.cli.tui",
        "open the operator console (Textual TUI); --sim N for a simulated fleet",
    ),
    "schedule": ("drone_ops.cli.schedule", "scheduled patrols: add, list, pause, resume"),
    "dispatch": (
        "drone_ops.cli.dispatch",
        "first response: fly the best ready vehicle to a point, hold, raise an incident",
    ),
    "serve": (
        "drone_ops.cli.serve",
        "run headless: fleet, scheduler, incident rules, telemetry bridge, metrics",
    ),
    "keys": ("drone_ops.cli.keys", "MAVLink signing keys per vehicle: generate, rotate, list"),
}


def _requested(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the full options of the command `argv` names; every other
    command is listed by name and help line only. No `argv`: every command in full."""
    parser = argparse.ArgumentParser(
        prog="drone-ops",
        description="Drone patrol control and telemetry.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if argv is None:
        wanted = {module for module, _ in COMMANDS.values()}
    else:
        command = _requested(argv)
        wanted = {COMMANDS[command][0]} if command in COMMANDS else set()
    registered: set[str] = set()
    for name, (module_name, help_text) in COMMANDS.items():
        if module_name not in wanted:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        if module_name in registered:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command group not built yet
                continue
            raise
        module.register(sub)
        registered.add(module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("drone-ops: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, (*user_errors(), OSError)):
            raise  # a bug: keep the traceback
        # user errors, and ports taken, files missing, disk full: say which
        print(f"drone-ops {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
