"""Shared plumbing for CLI command modules."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = [
    "DEFAULT_STORE_URL",
    "Handler",
    "Subparsers",
    "add_role_arg",
    "principal",
    "run_async",
    "user_errors",
]

# `drone_ops.store.DEFAULT_STORE_URL`, repeated so that building the parser does not
# load SQLAlchemy (a test keeps the two equal).
DEFAULT_STORE_URL = "sqlite:///var/drone-ops.db"

Handler = Callable[[argparse.Namespace], int]
Subparsers = argparse._SubParsersAction  # argparse has no public name for it


def user_errors() -> tuple[type[Exception], ...]:
    """Error hierarchies whose messages are written for the user (what is wrong and
    what to do). Imported when an error is being handled, not at startup: the
    `telemetry` package loads its MQTT client. The simulator's errors are translated
    in `drone_ops.cli.sim`, the only place that imports it."""
    from drone_ops.errors import DroneOpsError
    from missions.errors import MissionsError
    from telemetry.errors import TelemetryError

    return (DroneOpsError, MissionsError, TelemetryError)


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run one command's coroutine on a fresh event loop."""
    import asyncio  # ~0.1 s: loaded by the commands that run, not by `--help`

    return asyncio.run(coro_fn())


def add_role_arg(p: argparse.ArgumentParser) -> None:
    """``--role``, beside the command's ``--actor`` (see `drone_ops.roles`)."""
    import os

    p.add_argument(
        "--role",
        default=os.environ.get("DRONE_OPS_ROLE"),
        choices=("operator", "supervisor", "auditor"),
        help="your role: operator, supervisor or auditor (default: $DRONE_OPS_ROLE; a users "
        "file, $DRONE_OPS_USERS or ~/.config/drone-ops/users.toml, takes precedence)",
    )


def principal(args: argparse.Namespace) -> Any:
    """The `drone_ops.roles.Principal` of ``--actor``/``--role`` (loaded when a command runs)."""
    from drone_ops.roles import resolve_principal

    return resolve_principal(args.actor, args.role)
