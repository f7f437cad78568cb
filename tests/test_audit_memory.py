from dataclasses import replace

from drone_ops.audit import GENESIS_HASH, MemoryAuditLog, canonical_json, entry_hash


async def test_chain_links_each_entry_to_the_previous() -> None:
    log = MemoryAuditLog()
    first = await log.append(
        actor="op:alice", action="command.arm.request", target="vehicle:v1", payload={"alt_m": 10.0}
    )
    second = await log.append(
        actor="op:alice",
        action="command.arm.result",
        target="vehicle:v1",
        payload={"result": "accepted"},
    )
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert entry_hash(first.prev_hash, first.body()) == first.hash
    assert entry_hash(second.prev_hash, second.body()) == second.hash


async def test_an_altered_payload_no_longer_matches_its_hash() -> None:
    log = MemoryAuditLog()
    entry = await log.append(
        actor="op:alice",
        action="incident.raise",
        target="incident:1",
        payload={"note": "person on roof"},
    )
    forged = replace(entry, payload={"note": "nothing here"})
    assert entry_hash(forged.prev_hash, forged.body()) != entry.hash


def test_canonical_json_is_order_independent_and_handles_nan() -> None:
    assert canonical_json({"b": 1, "a": float("nan")}) == canonical_json(
        {"a": float("nan"), "b": 1}
    )
    assert canonical_json({"a": float("nan")}) == '{"a":"nan"}'
