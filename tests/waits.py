"""Waiting on what another process does (serve, PostgreSQL, the simulator's thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def until(pred: Callable[[], Awaitable[Any] | Any], timeout_s: float, what: str) -> Any:
    """`pred()`'s first truthy value (sync or async), or an AssertionError naming `what`."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:  # another process moves: there is no event to await, so poll briefly
                value = pred()
                if asyncio.iscoroutine(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
