"""The scheduler against simulated vehicles over real UDP, with a real store.

Idle hours are crossed by stepping the real simulator in large steps while
nothing flies (its physics and battery charging run for every step); sorties
fly at the simulator's speedup. The scheduler's clock is the simulator's.
After a warp the test waits for the controller to see the vehicles' new state
and wakes the scheduler, whose wall-clock wait was computed before the jump.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from drone_ops.config import ControllerConfig, TimeoutsConfig
from drone_ops.fleet import Fleet
from drone_ops.schedule import PlanSource, Preconditions, RetryPolicy, Schedule
from drone_ops.scheduling import ScheduleBook
from drone_ops.scheduling.plans import load_plan
from drone_ops.scheduling.scheduler import RunLinkingRecorder, Scheduler
from drone_ops.store import Store, open_store
from missions.plan import Home
from tests.scheduler.simhelp import (
    all_down,
    before,
    caught_up,
    sim_clock,
    wait_ready,
    warp_idle,
)

# 100x: one 20 ms tick is 2 simulated seconds (the physics substeps at 50 ms, so
# flight is unchanged); a sortie is about 0.6 wall seconds.
SPEEDUP = 100.0
# The full day: 48 sorties, about 40 s of wall time on a quiet 2-core machine.
# DRONE_OPS_SCHED_HOURS=6 for a quicker run while developing.
HOURS = float(os.environ.get("DRONE_OPS_SCHED_HOURS", "24"))
SHORT_PATROL = PlanSource(generator="square", params={"side_m": 20, "alt_m": 8})
# At 100x a take-off is a fraction of a wall second: give state changes 3 s of wall time.
CONTROLLER = ControllerConfig(timeouts=TimeoutsConfig(state_change_s=3 * SPEEDUP)).scaled(SPEEDUP)
FAST_RTL = {"RTL_RETURN_ALT": 8.0, "RTL_DESCEND_ALT": 8.0}


def sortie_overlaps(rows: list[tuple[str, int, int]]) -> list[str]:
    problems = []
    by_vehicle: dict[str, list[tuple[int, int]]] = {}
    for vid, start, end in rows:
        by_vehicle.setdefault(vid, []).append((start, end))
    for vid, spans in by_vehicle.items():
        spans.sort()
        for (_s0, e0), (s1, _e1) in itertools.pairwise(spans):
            if s1 < e0:
                problems.append(f"{vid}: sortie starting {s1} overlaps one ending {e0}")
    return problems


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_day_of_half_hourly_patrols_rotates_three_vehicles(
    sim_fleet: Any, tmp_path: Path
) -> None:
    async with sim_fleet(count=3, speedup=SPEEDUP, extra_params=FAST_RTL) as under_test:
        sim = under_test.fleet
        if sim is None:
            pytest.skip("steps the built-in simulator through idle hours")
        async with open_store(f"sqlite:///{tmp_path / 'ops.db'}") as store:
            book = ScheduleBook(store, actor="test")
            recorder = RunLinkingRecorder(store, book, holder="ctl-a")
            config = CONTROLLER
            async with Fleet(audit=store.audit, recorder=recorder, config=config) as fleet:
                for i in range(3):
                    await fleet.add_vehicle(f"v{i + 1}", under_test.api_url(i))
                await wait_ready(fleet)
                clock = sim_clock(sim)
                start = clock.now()
                schedule = Schedule(
                    name="depot",
                    plan=SHORT_PATROL,
                    interval_s=1800,
                    preconditions=Preconditions(min_battery_pct=90),
                    retry=RetryPolicy(max_attempts=2, delay_s=120),
                )
                await book.add(schedule, now=start)
                end = start + timedelta(hours=HOURS)
                async with Scheduler(
                    book=book, fleet=fleet, store=store, clock=clock, holder="ctl-a",
                    recorder=recorder,
                ) as scheduler:  # fmt: skip
                    while clock.now() < end:
                        nxt = await book.next_due()
                        target = before(min(nxt or end, end), 10)
                        if scheduler.active_runs == 0 and all_down(fleet) and target > clock.now():
                            await warp_idle(sim, clock, target, step_s=60.0)
                            await caught_up(fleet, sim)
                            scheduler.wake()
                        await sim.wait_ticks(5)
                    await scheduler.wait_idle()
                stats = scheduler.stats
            runs = await book.runs("depot")
            sortie_rows = await _sortie_spans(store)

    expected = len(schedule.runs_between(start, end))
    assert expected == int(HOURS * 2)
    assert len(runs) == expected
    statuses = Counter(r.status for r in runs)
    not_completed = [(r.due_utc, r.status, r.detail) for r in runs if r.status != "completed"]
    # every run ended in a recorded sortie outcome; none is left claimed or flying
    assert not statuses.keys() & {"claimed", "flying", "skipped"}, not_completed
    # every run is flown to completion: the start cannot be raced by the preflight
    # auto-disarm (MISSION_START arms) and no short flight goes unseen at 50x
    assert statuses["completed"] == expected, not_completed
    assert all(r.sortie_id is not None for r in runs)
    assert len({r.sortie_id for r in runs}) == expected  # one recorded sortie per run
    flown = Counter(vid for vid, _, _ in sortie_rows)
    assert set(flown) == {"v1", "v2", "v3"}  # batteries rotated: every vehicle took turns
    assert max(flown.values()) - min(flown.values()) <= 1
    assert sortie_overlaps(sortie_rows) == []  # no vehicle flew two sorties at once
    assert stats.flown == expected


async def _sortie_spans(store: Store) -> list[tuple[str, int, int]]:
    rows = await store.sorties(limit=10_000)
    assert all(r.ended_us is not None for r in rows)
    return [(r.vehicle_id, r.started_us, r.ended_us or 0) for r in rows]


async def test_a_run_with_no_ready_vehicle_is_retried_then_recorded_as_skipped_with_why(
    sim_fleet: Any, tmp_path: Path
) -> None:
    async with (
        sim_fleet(count=1, speedup=SPEEDUP) as under_test,
        open_store(f"sqlite:///{tmp_path / 'ops.db'}") as store,
    ):
        sim = under_test.fleet
        if sim is None:
            pytest.skip("reads the built-in simulator's clock")
        book = ScheduleBook(store, actor="test")
        recorder = RunLinkingRecorder(store, book, holder="ctl-a")
        async with Fleet(audit=store.audit, recorder=recorder, config=CONTROLLER) as fleet:
            await fleet.add_vehicle("v1", under_test.api_url(0))
            await wait_ready(fleet)
            clock = sim_clock(sim)
            # the only vehicle is out on a long patrol when the run falls due
            home = fleet.state("v1").home
            assert home is not None
            long_patrol = load_plan(
                PlanSource(generator="square", params={"side_m": 200, "alt_m": 20}),
                home=Home(lat_deg=home.lat_deg, lon_deg=home.lon_deg, amsl_m=home.amsl_m),
                name="long",
            )
            fleet.start_sortie("v1", long_patrol)
            await fleet.session("v1").wait_for(lambda s: s.in_air)
            now = clock.now()
            await book.add(
                Schedule(
                    name="blocked",
                    plan=SHORT_PATROL,
                    interval_s=3600,
                    anchor_utc=now + timedelta(seconds=20),
                    retry=RetryPolicy(max_attempts=2, delay_s=30),
                ),
                now=now,
            )
            async with Scheduler(
                book=book, fleet=fleet, store=store, clock=clock, holder="ctl-a",
                recorder=recorder, poll_s=10,
            ) as scheduler:  # fmt: skip
                await fleet.session("v1").wait_for(lambda _s: scheduler.stats.claimed == 1)
                await scheduler.wait_idle()
                assert fleet.sortie("v1") is not None  # still on its patrol: nothing preempted
            [run] = await book.runs("blocked")
    assert run.status == "skipped"
    assert run.sortie_id is None
    assert run.detail is not None
    assert "no vehicle ready after 2 attempt(s)" in run.detail
    assert "v1: busy with another sortie" in run.detail
    assert scheduler.stats.retries == 1
