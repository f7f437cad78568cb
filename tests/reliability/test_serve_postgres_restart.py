"""`drone-ops serve` with leases, PostgreSQL restarted while a scheduled sortie flies.

serve runs as a subprocess with leases on against a private PostgreSQL (this
test's own server on a free port, which it stops and starts); the simulated
vehicle runs in this test's process on free ports (`drone-ops sim` has fixed
ones). While the vehicle flies its scheduled patrol the database is stopped
long enough for serve to need it (the lease renewal, the fence before the
command that ends the patrol, the sortie's events) and started again.

What must hold afterwards:
- the sortie completes, landed and disarmed, closed COMPLETED by serve;
- the schedule run is recorded once, with that outcome and the sortie;
- the lease kept its token (nobody else could take it; the outage was shorter
  than `outage_s`) and every command request carries that token;
- the audit chain verifies;
- serve's log has no traceback, and says it waited for the store.

The plan ends at its last waypoint (no RTL item), so the controller itself
must send RTL when the patrol is done: the database is down from the first
leg until the vehicle hovers at that last waypoint and the lease has run out
on the wall clock. The RTL (its event, the fence, its request) waits, the
vehicle keeps hovering meanwhile, and once the database is back the fence
finds the lease still ours (same holder, same token) and renews it.
Before the fix, renewal dropped the lease once it expired and the RTL was
refused with a `LeaseLostError` traceback ("controller error").
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from drone_ops.schedule import PlanSource, Preconditions, RetryPolicy, Schedule
from drone_ops.scheduling import ScheduleBook, load_plan
from drone_ops.service import ServiceError, load_service_config
from drone_ops.store import Store, StoreConfig, open_store
from drone_ops.store.engine import read_tx
from drone_ops.store.schema import controller_leases, sorties
from drone_ops.store.verify import verify_store
from missions.formats import save_plan
from missions.plan import Home, ItemKind
from sitl.modes import FlightMode
from tests.serve_process import log_lines, start_serve
from tests.store.store_helpers import PrivatePostgres
from tests.waits import until

SPEEDUP = 10.0
LEASE_TTL_S = 2.0  # renewed every 0.67 s: the outage outlasts it
ME = "ctl-pg"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.5", 12.5), ("0", 0.0), ("45", 45.0)],
)
def test_outage_s_is_read_from_the_serve_config(
    tmp_path: Path, value: str, expected: float
) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(f'[service]\nstore = "postgresql://127.0.0.1/x"\noutage_s = {value}\n')
    assert load_service_config(path).outage_s == expected


@pytest.mark.parametrize("value", ['"long"', "true", "-1", "nan", "inf", "[30]"])
def test_a_bad_outage_s_is_one_line_naming_the_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(f"[service]\noutage_s = {value}\n")
    with pytest.raises(ServiceError) as failed:
        load_service_config(path)
    message = str(failed.value)
    assert "outage_s" in message
    assert "\n" not in message


def rows(store: Store, query: Any) -> list[Any]:
    with read_tx(store.engine) as conn:
        return list(conn.execute(query).all())


def open_ended_plan(tmp_path: Path, vehicle: Any) -> Path:
    """A square patrol without its final RTL: the controller must send the vehicle home."""
    lat, lon = vehicle.position()
    square = load_plan(
        PlanSource(generator="square", params={"side_m": 150, "alt_m": 15}),
        home=Home(lat_deg=lat, lon_deg=lon, amsl_m=vehicle.amsl_m()),
        name="open-ended",
    )
    assert square.items[-1].kind is ItemKind.RETURN_TO_LAUNCH
    path = tmp_path / "open-ended.plan"
    save_plan(replace(square, items=square.items[:-1]), str(path))
    return path


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_serve_with_leases_rides_out_a_postgresql_restart_mid_sortie(
    sim_fleet: Any, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    url = private_pg.url
    now = datetime.now(UTC)
    async with sim_fleet(count=1, speedup=SPEEDUP) as sim:
        (vehicle,) = sim.builtin_vehicles("watches the vehicle through the outage")
        plan_file = open_ended_plan(tmp_path, vehicle)
        (tmp_path / "controller.toml").write_text("[timeouts]\nstate_change_s = 150\n")
        cfg = tmp_path / "serve.toml"
        cfg.write_text(
            f'[service]\ncontroller_id = "{ME}"\nstore = "{url}"\nmetrics_port = -1\n'
            f"leases = true\nlease_ttl_s = {LEASE_TTL_S}\noutage_s = 60\n"
            f'speedup = {SPEEDUP}\nscheduler_poll_s = 0.5\ncontroller_config = "controller.toml"\n'
            f'tlog_dir = "{tmp_path / "tlog"}"\n'
            f'\n[[vehicles]]\nid = "v1"\nconnect = "{sim.api_url(0)}"\n'
        )
        config = StoreConfig(url=url, connect_timeout_s=2, outage_s=60)
        async with open_store(config) as store:
            await ScheduleBook(store, actor="test").add(
                Schedule(  # one run, 2 s from now; the next would be in an hour
                    name="once",
                    plan=PlanSource(file=str(plan_file)),
                    interval_s=3600,
                    anchor_utc=now + timedelta(seconds=2),
                    preconditions=Preconditions(min_battery_pct=30),
                    late_grace_s=300,  # a slow start of serve on a loaded box still flies it
                    retry=RetryPolicy(max_attempts=60, delay_s=1.0),  # home may come late
                ),
                now=now,
            )
            log_path = tmp_path / "serve.log"
            with log_path.open("wb") as log_file:
                serve = await start_serve(
                    "--config", str(cfg), "--log-level", "warning", cwd=tmp_path, stderr=log_file
                )
            try:
                # ---- the sortie is open and the vehicle on its first leg
                await until(
                    lambda: vehicle.in_air() and vehicle.mission.current_seq >= 1,
                    60,
                    f"the scheduled sortie in the air; serve said {log_lines(log_path)[-20:]}",
                )
                (lease,) = await asyncio.to_thread(rows, store, select(controller_leases))
                assert lease.holder == ME
                (sortie,) = await asyncio.to_thread(rows, store, select(sorties))
                assert sortie.ended_us is None

                # ---- down from the first leg until the vehicle hovers at the last waypoint
                await asyncio.to_thread(private_pg.stop)
                stopped = time.monotonic()
                assert not vehicle.mission_finished  # the RTL is still to come
                await until(lambda: vehicle.mission_finished, 60, "the last waypoint")
                # The lease must run out on the wall clock while the store is down:
                # there is no event for "time has passed", so this waits for it.
                await asyncio.sleep(max(0.0, LEASE_TTL_S + 1.0 - (time.monotonic() - stopped)))
                # not sent unchecked: no RTL while the database is down, still hovering
                assert vehicle.in_air()
                assert vehicle.mode is not FlightMode.AUTO_RTL
                await asyncio.to_thread(private_pg.start)

                # ---- serve sends it home, follows it down and closes the sortie
                async def closed() -> Any:
                    (row,) = await asyncio.to_thread(rows, store, select(sorties))
                    return row if row.ended_us is not None else None

                ended = await until(closed, 60, "serve to close the sortie")
                landed_and_disarmed = not vehicle.armed and not vehicle.in_air()
                serve.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    await serve.wait()
                assert serve.returncode == 0, log_path.read_text()[-3000:]
            finally:
                if serve.returncode is None:
                    serve.kill()
                    await serve.wait()

            (lease_after,) = await asyncio.to_thread(rows, store, select(controller_leases))
            runs = await ScheduleBook(store).runs("once")
            entries = await store.audit.entries(limit=100_000)
            report = await verify_store(store)
            all_sorties = await store.sorties(limit=100)

    # the sortie completed, landed and disarmed, closed by serve
    assert landed_and_disarmed
    assert [s.sortie_id for s in all_sorties] == [sortie.sortie_id]
    assert ended.outcome == "completed", ended
    assert ended.controller == ME
    # the run is recorded once, with its outcome and its sortie
    assert [(r.status, r.sortie_id) for r in runs] == [("completed", sortie.sortie_id)]
    assert runs[0].finished_utc is not None
    # same holder, same token: nobody else could take it, so nobody was fenced out
    assert lease_after.holder == ME
    assert lease_after.fencing_token == lease.fencing_token
    requests = [e for e in entries if e.action.startswith("command.")]
    requests = [e for e in requests if e.action.endswith(".request")]
    assert {e.action for e in requests} >= {"command.arm.request", "command.rtl.request"}
    assert {(e.payload.get("lease_holder"), e.payload.get("lease_token")) for e in requests} == {
        (ME, lease.fencing_token)
    }
    commands = [e.action for e in entries if e.action.startswith("command.")]
    sent = Counter(a.removesuffix(".request") for a in commands if a.endswith(".request"))
    answered = Counter(a.removesuffix(".result") for a in commands if a.endswith(".result"))
    assert sent == answered, commands
    assert sent["command.rtl"] == 1  # the end of the patrol, once
    # the chain verifies
    assert report.ok, report.summary()
    # serve felt the outage, said so in lines, and never dumped a traceback
    text = log_path.read_text(errors="replace")
    lines = log_lines(log_path)
    assert "Traceback" not in text
    assert [ln for ln in lines if "exc" in ln or "raw" in ln] == []
    assert not [ln for ln in lines if "controller error" in str(ln.get("msg"))]
    said = [str(ln.get("msg")) for ln in lines]
    assert any("waits for the store" in m or "not renewed" in m for m in said), said


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_serve_with_the_database_gone_for_good_stops_in_one_line_per_failure(
    sim_fleet: Any, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    """Past `outage_s` nothing is sent unchecked and nothing dumps a traceback. The
    database goes away for good in flight: the lease is given up after the bound
    (one line); SIGTERM then finds the vehicle flying: the shutdown's RTL is
    refused (no lease) and its close of the sortie is not written, one line each;
    serve exits cleanly, and the vehicle flies its plan home on its own."""
    url = private_pg.url
    now = datetime.now(UTC)
    async with sim_fleet(count=1, speedup=SPEEDUP) as sim:
        (vehicle,) = sim.builtin_vehicles("watches the vehicle land on its own")
        (tmp_path / "controller.toml").write_text("[timeouts]\nstate_change_s = 150\n")
        cfg = tmp_path / "serve.toml"
        cfg.write_text(
            f'[service]\ncontroller_id = "{ME}"\nstore = "{url}"\nmetrics_port = -1\n'
            f"leases = true\nlease_ttl_s = {LEASE_TTL_S}\noutage_s = 1\n"
            f'speedup = {SPEEDUP}\nscheduler_poll_s = 0.5\ncontroller_config = "controller.toml"\n'
            f'\n[[vehicles]]\nid = "v1"\nconnect = "{sim.api_url(0)}"\n'
        )
        async with open_store(StoreConfig(url=url, connect_timeout_s=2)) as store:
            await ScheduleBook(store, actor="test").add(
                Schedule(
                    name="once",
                    plan=PlanSource(generator="square", params={"side_m": 150, "alt_m": 15}),
                    interval_s=3600,
                    anchor_utc=now + timedelta(seconds=2),
                    preconditions=Preconditions(min_battery_pct=30),
                    late_grace_s=300,
                    retry=RetryPolicy(max_attempts=60, delay_s=1.0),
                ),
                now=now,
            )
        log_path = tmp_path / "serve.log"
        with log_path.open("wb") as log_file:
            serve = await start_serve(
                "--config", str(cfg), "--log-level", "warning", cwd=tmp_path, stderr=log_file
            )
        try:
            await until(
                lambda: vehicle.in_air() and vehicle.mission.current_seq >= 1,
                60,
                f"the scheduled sortie in the air; serve said {log_lines(log_path)[-20:]}",
            )
            await asyncio.to_thread(private_pg.stop)  # for good
            await until(
                lambda: "lease on v1 given up" in log_path.read_text(errors="replace"),
                60,
                "serve to give the lease up",
            )
            assert vehicle.in_air()  # still flying its patrol
            serve.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await serve.wait()
            await until(lambda: not vehicle.armed and not vehicle.in_air(), 90, "the landing")
        finally:
            if serve.returncode is None:
                serve.kill()
                await serve.wait()
    text = log_path.read_text(errors="replace")
    lines = log_lines(log_path)
    assert serve.returncode == 0, text[-3000:]
    assert "Traceback" not in text
    assert [ln for ln in lines if "exc" in ln or "raw" in ln] == []
    said = [str(ln.get("msg")) for ln in lines]
    assert any(m.startswith("could not send v1 home") for m in said), said
    assert any(m.startswith("sortie 1 of v1 not closed at shutdown") for m in said), said
    assert any("was not written: the store stayed unavailable for 1 s" in m for m in said)
