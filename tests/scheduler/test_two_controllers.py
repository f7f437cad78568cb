"""Two `drone-ops serve` processes on one PostgreSQL store and one simulated fleet.

Controller A listens on each vehicle's API link, controller B on its GCS link
(as a second ground station would). Both run the same schedule. Every run is
claimed once and flown once; each vehicle is commanded by one controller at a
time (leases with fencing tokens). When A is killed mid-sortie, B takes the
vehicle over once A's lease expires and closes the sortie and its run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from drone_ops.schedule import PlanSource, Preconditions, Schedule
from drone_ops.scheduling import ScheduleBook
from drone_ops.store import Store, open_store
from drone_ops.store.engine import read_tx
from drone_ops.store.schema import audit_entries, sorties

SPEEDUP = 20.0
LEASE_TTL_S = 2.0
REPO = str(Path(__file__).resolve().parents[2])


def write_config(path: Path, *, me: str, store: str, links: list[tuple[str, str]]) -> Path:
    (path / "controller.toml").write_text("[timeouts]\nstate_change_s = 150\n")
    vehicles = "".join(f'\n[[vehicles]]\nid = "{v}"\nconnect = "{url}"\n' for v, url in links)
    cfg = path / f"{me}.toml"
    cfg.write_text(
        f'[service]\ncontroller_id = "{me}"\nstore = "{store}"\nmetrics_port = -1\n'
        f"leases = true\nlease_ttl_s = {LEASE_TTL_S}\nspeedup = {SPEEDUP}\n"
        f'scheduler_poll_s = 0.5\ncontroller_config = "controller.toml"\n'
        f'tlog_dir = "{path / "tlog"}"\n{vehicles}'
    )
    return cfg


async def start(cfg: Path, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drone_ops.cli", "serve", "--config", str(cfg),
        "--log-level", "warning", cwd=cwd, env={**os.environ, "PYTHONPATH": REPO},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def open_sorties(store: Store) -> list[Any]:
    with read_tx(store.engine) as conn:
        return list(conn.execute(select(sorties).where(sorties.c.ended_us.is_(None))).all())


def sortie_by_id(store: Store, sortie_id: int) -> Any:
    with read_tx(store.engine) as conn:
        return conn.execute(select(sorties).where(sorties.c.sortie_id == sortie_id)).one()


def take_overs(store: Store) -> list[Any]:
    with read_tx(store.engine) as conn:
        return list(
            conn.execute(
                select(audit_entries).where(audit_entries.c.action == "sortie.take_over")
            ).all()
        )


async def until(pred: Any, timeout_s: float, what: str) -> Any:
    try:
        async with asyncio.timeout(timeout_s):
            while True:  # another process writes the store: nothing to await but time
                value = await pred()
                if value:
                    return value
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_two_controllers_share_runs_and_take_over_a_dead_controllers_vehicle(
    sim_fleet: Any, pg_url: str, tmp_path: Path
) -> None:
    async with sim_fleet(count=2, speedup=SPEEDUP, home_spacing_m=50.0) as sim:
        if sim.fleet is None:
            pytest.skip("needs both links of the built-in simulator")
        async with open_store(pg_url) as store:
            await ScheduleBook(store, actor="test").add(
                Schedule(
                    name="shared",
                    plan=PlanSource(generator="square", params={"side_m": 150, "alt_m": 15}),
                    interval_s=4,
                    preconditions=Preconditions(min_battery_pct=30),
                ),
                now=datetime.now(UTC),
            )
            api = [(f"v{i + 1}", sim.api_url(i)) for i in range(2)]
            gcs = [(f"v{i + 1}", f"udpin://0.0.0.0:{sim.gcs_port(i)}") for i in range(2)]
            a = await start(write_config(tmp_path, me="ctl-a", store=pg_url, links=api), tmp_path)
            b = await start(write_config(tmp_path, me="ctl-b", store=pg_url, links=gcs), tmp_path)
            try:

                async def a_flying() -> Any:
                    rows = await asyncio.to_thread(open_sorties, store)
                    return next((r for r in rows if r.controller == "ctl-a"), None)

                victim = await until(a_flying, 120, "a sortie flown by ctl-a")
                a.send_signal(signal.SIGKILL)  # no shutdown: the lease simply stops renewing
                await a.wait()

                async def closed_by_b() -> Any:
                    row = await asyncio.to_thread(sortie_by_id, store, victim.sortie_id)
                    return row if row.ended_us is not None else None

                ended = await until(closed_by_b, 120, "ctl-b to close ctl-a's sortie")
                assert ended.controller == "ctl-b"
                assert ended.outcome in ("completed", "aborted")
                b.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    _, err = await b.communicate()
                assert b.returncode == 0, err.decode()[-2000:]
            finally:
                for p in (a, b):
                    if p.returncode is None:
                        p.kill()
                        await p.wait()
            runs = await ScheduleBook(store).runs("shared")
            all_sorties = await store.sorties(limit=1000)
            handed = await asyncio.to_thread(take_overs, store)

    # every run claimed once (unique per due time) and flown at most once
    assert len({r.due_utc for r in runs}) == len(runs)
    flown = [r.sortie_id for r in runs if r.sortie_id is not None]
    assert len(flown) == len(set(flown))
    assert {r.claimed_by for r in runs if r.sortie_id is not None} >= {"ctl-a"}
    # no vehicle flew two sorties at once, whoever commanded them
    by_vehicle: dict[str, list[tuple[int, int]]] = {}
    for s in all_sorties:
        by_vehicle.setdefault(s.vehicle_id, []).append((s.started_us, s.ended_us or 2**62))
    for spans in by_vehicle.values():
        spans.sort()
        assert all(nxt[0] >= cur[1] for cur, nxt in itertools.pairwise(spans))
    assert [h.target for h in handed] == [f"sortie:{victim.sortie_id}"]
    victim_run = [r for r in runs if r.sortie_id == victim.sortie_id]
    assert victim_run
    assert victim_run[0].finished_utc is not None
    assert Counter(s.controller for s in all_sorties)["ctl-b"] >= 1
