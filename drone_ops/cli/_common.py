"""Shared plumbing for CLI command modules."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from drone_ops.errors import DroneOpsError
from missions.errors import MissionsError
from telemetry.errors import TelemetryError

__all__ = ["USER_ERRORS", "Handler", "Subparsers", "run_async"]

Handler = Callable[[argparse.Namespace], int]
Subparsers = argparse._SubParsersAction  # argparse has no public name for it

# Error hierarchies whose messages are written for the user (what is wrong and
# what to do). The simulator's errors are translated in `drone_ops.cli.sim`,
# the only place that imports it.
USER_ERRORS: tuple[type[Exception], ...] = (DroneOpsError, MissionsError, TelemetryError)


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run one command's coroutine on a fresh event loop."""
    return asyncio.run(coro_fn())
