"""The persistent audit chain: hashing as MemoryAuditLog, append-only, verifiable, shared."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap

import psycopg
import pytest
from store_helpers import disable_guard, raw_sql, track

from drone_ops.audit import GENESIS_HASH, AuditLog, entry_hash
from drone_ops.incidents import EvidenceKind, EvidenceLocker, IncidentDraft, Incidents, Severity
from drone_ops.store import Store, StoreConfig, open_store
from drone_ops.store.verify import verify_store


async def append_some(store: Store, n: int, actor: str = "op:alice") -> None:
    for i in range(n):
        await store.audit.append(
            actor=actor, action="command.arm.request", target="vehicle:v1", payload={"i": i}
        )


async def test_entries_chain_exactly_as_the_audit_module_hashes(store: Store) -> None:
    assert isinstance(store.audit, AuditLog)
    await append_some(store, 3)
    entries = await store.audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    for prev, entry in zip([None, *entries], entries, strict=False):
        assert entry.prev_hash == (GENESIS_HASH if prev is None else prev.hash)
        assert entry_hash(entry.prev_hash, entry.body()) == entry.hash
    report = await verify_store(store)
    assert report.ok, report.summary()
    assert report.entries == 3
    assert report.head_hash == entries[-1].hash


async def test_the_database_refuses_update_and_delete_of_audit_rows(store: Store) -> None:
    await append_some(store, 2)
    for statement in (
        "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_entries WHERE seq = 2",
    ):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            raw_sql(store, statement)
    if not store.config.is_sqlite:
        with pytest.raises(psycopg.Error, match="append-only"):
            raw_sql(store, "TRUNCATE audit_entries")
    assert (await verify_store(store)).ok


async def test_an_edited_row_is_named_by_verify(store: Store) -> None:
    await append_some(store, 5)
    raw_sql(
        store,
        *disable_guard(store),
        """UPDATE audit_entries SET payload_json = '{"i":99}' WHERE seq = 3""",
    )
    report = await verify_store(store)
    assert not report.ok
    assert report.problem is not None
    assert report.problem.seq == 3
    assert "audit entry 3 (command.arm.request vehicle:v1) does not match its hash" in (
        report.summary()
    )


async def test_a_rewritten_chain_tail_and_removed_entries_are_caught(store: Store) -> None:
    await append_some(store, 5)
    raw_sql(store, *disable_guard(store), "DELETE FROM audit_entries WHERE seq = 2")
    report = await verify_store(store)
    assert report.problem is not None
    assert report.problem.seq == 2
    assert "audit entry 2 is missing" in report.problem.message


async def test_truncating_the_end_of_the_chain_is_caught_by_the_head(store: Store) -> None:
    await append_some(store, 5)
    raw_sql(store, *disable_guard(store), "DELETE FROM audit_entries WHERE seq >= 4")
    report = await verify_store(store)
    assert report.problem is not None
    assert "ends at entry 3 but its head records entry 5" in report.problem.message


async def test_an_altered_evidence_file_or_record_is_named(store: Store) -> None:
    incident = await Incidents(store).raise_incident(
        IncidentDraft(kind="mark", severity=Severity.INFO, time_unix_us=1, summary="x"),
        actor="op:alice",
    )
    locker = EvidenceLocker(store)
    first = await locker.add_bytes(
        incident.incident_id,
        b"frame 1",
        kind=EvidenceKind.SNAPSHOT,
        name="a.jpg",
        media_type="image/jpeg",
        actor="op:alice",
    )
    await locker.add_bytes(
        incident.incident_id,
        b"frame 2",
        kind=EvidenceKind.SNAPSHOT,
        name="b.jpg",
        media_type="image/jpeg",
        actor="op:alice",
    )
    report = await verify_store(store)
    assert report.ok, report.summary()
    assert report.evidence_files == 2
    path = locker.path_of(first)
    assert path.read_bytes() == b"frame 1"
    path.chmod(0o644)
    path.write_bytes(b"frame X")
    report = await verify_store(store)
    assert report.problem is not None
    assert f"evidence file {path} does not match its recorded SHA-256" in report.problem.message
    path.write_bytes(b"frame 1")
    assert (await verify_store(store)).ok
    # re-pointing the record at a forged file's hash is caught against its audit entry
    raw_sql(store, f"UPDATE evidence SET sha256 = '{'0' * 64}' WHERE evidence_id = 1")
    report = await verify_store(store)
    assert report.problem is not None
    assert "evidence 1 (" in report.problem.message
    assert f"differs from audit entry {first.audit_seq}" in report.problem.message


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (
            ["UPDATE incidents SET status = 'dismissed' WHERE incident_id = 1"],
            "incident 1: its status in the store ('dismissed') differs from audit entry 2 "
            "('acknowledged')",
        ),
        (
            ["UPDATE incidents SET lat_deg = 48.0 WHERE incident_id = 1"],
            "incident 1: its lat_deg in the store (48.0) differs from audit entry 1 (52.0)",
        ),
        (
            ["DELETE FROM incident_notes", "DELETE FROM evidence", "DELETE FROM incidents"],
            "incident 1 (audit entry 1) is missing from the store",
        ),
        (["DELETE FROM evidence"], "evidence 1 (audit entry 3) is missing from the store"),
    ],
)
async def test_incident_and_evidence_records_are_checked_against_the_chain(
    store: Store, statements: list[str], message: str
) -> None:
    book = Incidents(store)
    await book.raise_incident(
        IncidentDraft(
            kind="mark",
            severity=Severity.INFO,
            time_unix_us=1,
            summary="x",
            lat_deg=52.0,
            lon_deg=4.0,
        ),
        actor="op:alice",
    )
    await book.acknowledge(1, actor="op:alice", note="looking")
    await EvidenceLocker(store).add_bytes(
        1,
        b"snap",
        kind=EvidenceKind.SNAPSHOT,
        name="s.jpg",
        media_type="image/jpeg",
        actor="op:alice",
    )
    assert (await verify_store(store)).ok
    raw_sql(store, *statements)
    report = await verify_store(store)
    assert report.problem is not None
    assert message in report.problem.message


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from drone_ops.store import open_store

    async def main(url, actor, n):
        async with open_store(url) as store:
            print("ready", flush=True)
            sys.stdin.readline()  # wait for "go": both writers start together
            async def one(i):
                await store.audit.append(
                    actor=actor, action="command.goto.request", target="vehicle:v1",
                    payload={"i": i},
                )
            await asyncio.gather(*(one(i) for i in range(n)))
        print("done", flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_two_controller_processes_append_to_one_postgresql_chain(pg_url: str) -> None:
    url = pg_url
    async with open_store(StoreConfig(url=url)) as store:  # migrate once up front
        await append_some(store, 1, actor="setup")
    n = 60
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WRITER,
            url,
            f"controller-{k}",
            str(n),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for k in range(2)
    ]
    for p in procs:
        assert p.stdout is not None
        assert (await p.stdout.readline()).strip() == b"ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        await p.stdin.drain()
    for p in procs:
        assert (await p.communicate())[0].strip() == b"done"
        assert p.returncode == 0
    async with open_store(StoreConfig(url=url)) as store:
        entries = await store.audit.entries(limit=10_000)
        report = await verify_store(store)
    assert report.ok, report.summary()
    assert [e.seq for e in entries] == list(range(1, 2 * n + 2))
    by_actor = {a: sum(e.actor == a for e in entries) for a in ("controller-0", "controller-1")}
    assert by_actor == {"controller-0": n, "controller-1": n}


async def test_telemetry_writes_are_not_audited(store: Store) -> None:
    """Telemetry is recorded, not audited (volume); sortie open/close are audited."""
    await store.write_samples(track("v1", 50))
    assert await store.audit.entries() == []


async def test_two_engines_append_to_one_sqlite_chain(sqlite_url: str) -> None:
    """Two stores (two engines, two connection pools) on one file, appending at once."""
    n = 40
    async with open_store(sqlite_url) as a, open_store(sqlite_url) as b:

        async def burst(store: Store, actor: str) -> None:
            await asyncio.gather(
                *(
                    store.audit.append(actor=actor, action="x", target="t", payload={"i": i})
                    for i in range(n)
                )
            )

        await asyncio.gather(burst(a, "a"), burst(b, "b"))
        entries = await a.audit.entries(limit=1000)
        report = await verify_store(b)
    assert report.ok, report.summary()
    assert [e.seq for e in entries] == list(range(1, 2 * n + 1))
    assert sum(e.actor == "a" for e in entries) == n
