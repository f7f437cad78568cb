"""Telemetry samples per second into the store, SQLite and PostgreSQL.

Each figure is measured in this run next to a baseline doing the same work
with the bare driver (`sqlite3.executemany`, psycopg `COPY` of ready-made
tuples), so the ratio shows what our layer costs, whatever the machine.
Goals (issue 5): >= 50,000 samples/s into SQLite, >= 20,000/s into PostgreSQL.

    .venv/bin/python bench/store_write.py [--samples 100000] [--batch 2000]
        [--pg postgresql://postgres@127.0.0.1:5432/test | --no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import psycopg
from synthetic import synthetic_samples

from drone_ops.store import StoreConfig, StoreWriter, open_store
from drone_ops.store.telemetry_rows import SAMPLE_FIELDS
from telemetry.sample import TelemetrySample

SQLITE_GOAL = 50_000
PG_GOAL = 20_000


def rows_of(samples: Sequence[TelemetrySample]) -> list[tuple[object, ...]]:
    return [(None, *(getattr(s, f) for f in SAMPLE_FIELDS)) for s in samples]


def batches(items: Sequence[TelemetrySample], size: int) -> list[Sequence[TelemetrySample]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def sqlite_baseline(db: Path, rows: list[tuple[object, ...]], batch: int) -> float:
    """Bare sqlite3 executemany into the same table (created by our migration), same batches."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    cols = ("sortie_id", *SAMPLE_FIELDS)
    sql = f"INSERT INTO telemetry ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
    start = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i : i + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return rate(len(rows), elapsed)


def pg_baseline(url: str, rows: list[tuple[object, ...]], batch: int) -> float:
    cols = ("sortie_id", *SAMPLE_FIELDS)
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for i in range(0, len(rows), batch):
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY telemetry ({','.join(cols)}) FROM STDIN") as cp,
            ):
                for row in rows[i : i + batch]:
                    cp.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - start
    return rate(len(rows), elapsed)


async def ours(url: str, samples: list[TelemetrySample], batch: int) -> tuple[float, float, int]:
    """(write_samples rate, StoreWriter rate, rows stored) on a freshly migrated store."""
    half = len(samples) // 2
    async with open_store(StoreConfig(url=url)) as store:
        start = time.perf_counter()
        for b in batches(samples[:half], batch):
            await store.write_samples(b)
        direct = rate(half, time.perf_counter() - start)

        async def source() -> AsyncIterator[Sequence[TelemetrySample]]:
            for b in batches(samples[half:], batch):
                yield b

        writer = StoreWriter(store, max_batch_samples=batch)
        start = time.perf_counter()
        await writer.run(source())
        via_writer = rate(len(samples) - half, time.perf_counter() - start)
        stored = await store.count_samples()
    return direct, via_writer, stored


def report(name: str, goal: int, baseline: float, direct: float, writer: float) -> None:
    verdict = "meets" if min(direct, writer) >= goal else "MISSES"
    print(f"{name}:")
    print(f"  baseline (bare driver)     {baseline:>10,.0f} samples/s")
    for label, value in (("Store.write_samples", direct), ("StoreWriter (batched sink)", writer)):
        print(f"  {label:<26} {value:>10,.0f} samples/s  ({value / baseline:.2f}x baseline)")
    print(f"  goal {goal:,}/s: {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    samples = synthetic_samples(args.samples)
    rows = rows_of(samples)
    print(f"{args.samples:,} samples from 50 vehicles, batches of {args.batch}")

    with tempfile.TemporaryDirectory() as tmp:
        base_db = Path(tmp) / "baseline.db"
        asyncio.run(ours(f"sqlite:///{base_db}", [], args.batch))  # same schema, empty
        baseline = sqlite_baseline(base_db, rows, args.batch)
        direct, writer, stored = asyncio.run(
            ours(f"sqlite:///{Path(tmp) / 'ours.db'}", samples, args.batch)
        )
        assert stored == len(samples), "samples were lost"
        report("SQLite (WAL, synchronous=FULL)", SQLITE_GOAL, baseline, direct, writer)

    if args.no_pg:
        return
    base, _, _ = args.pg.rpartition("/")
    names = {k: f"drone_ops_bench_{k}_{uuid.uuid4().hex[:8]}" for k in ("baseline", "ours")}
    with psycopg.connect(args.pg, autocommit=True) as admin:
        for n in names.values():
            admin.execute(f'CREATE DATABASE "{n}"')
    try:
        base_url = f"{base}/{names['baseline']}"
        asyncio.run(ours(base_url, [], args.batch))
        pg_rate = pg_baseline(base_url, rows, args.batch)
        direct, writer, stored = asyncio.run(ours(f"{base}/{names['ours']}", samples, args.batch))
        assert stored == len(samples), "samples were lost"
        report("PostgreSQL (COPY)", PG_GOAL, pg_rate, direct, writer)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            for n in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


if __name__ == "__main__":
    main()
