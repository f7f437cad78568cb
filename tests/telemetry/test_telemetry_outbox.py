"""The durable outbox: order, group commit, and survival across reopen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from telemetry import Outbox, OutboxError


async def test_concurrent_puts_keep_call_order_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    async with Outbox(path) as outbox:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(outbox.put("t", str(i).encode()), name=f"put-{i}")
                for i in range(200)
            ]  # created in order, so they call put() in order
        ids = [t.result() for t in tasks]
        assert ids == sorted(ids)
        assert len(outbox) == 200
    async with Outbox(path) as again:
        assert len(again) == 200
        first = await again.peek(5)
        assert [m.payload for m in first] == [b"0", b"1", b"2", b"3", b"4"]
        assert all(m.qos == 1 and not m.retain for m in first)
        await again.remove([m.id for m in first])
        assert len(again) == 195
        rest = await again.peek(1000)
        assert [int(m.payload) for m in rest] == list(range(5, 200))
        await again.remove([m.id for m in rest])
        async with asyncio.timeout(5):
            await again.wait_empty()


async def test_an_outbox_that_cannot_be_opened_says_which_file(tmp_path: Path) -> None:
    not_a_db = tmp_path / "outbox.sqlite"
    not_a_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError, match=r"cannot open the MQTT outbox .*outbox\.sqlite"):
        async with Outbox(not_a_db):
            pass


async def test_put_outside_the_context_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutboxError, match="not open"):
        await Outbox(tmp_path / "o.sqlite").put("t", b"x")
