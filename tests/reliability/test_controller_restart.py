"""`drone-ops serve` killed with SIGKILL mid-sortie and started again with the same config.

The simulated vehicle runs in this test's process, serve in its own, so the
kill leaves the vehicle flying its mission with nobody on the ground (PX4's
data-link-loss action is off by default: it carries on). The MQTT broker is
down during the first run, so the `sortie.opened` event serve accepted is
still in its on-disk outbox when it dies; the broker is started before the
restart. It runs once on a SQLite file and once on PostgreSQL.

What must hold after the restart, with nothing done by hand:
- the sortie left open is resumed by the same controller (one
  `sortie.resume_after_restart` audit entry, no take-over), followed to its
  end and closed COMPLETED (the vehicle did finish the patrol on its own);
  there is still one sortie row and one schedule run, and the run is closed
  with the same outcome;
- the lease is taken back at once (long before it would have expired) with a
  new fencing token;
- the event accepted before the kill reaches the broker exactly once, and the
  close is announced too;
- the audit chain verifies; no incident is recorded twice;
- the vehicle is landed and disarmed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from drone_ops.schedule import PlanSource, Preconditions, RetryPolicy, Schedule
from drone_ops.scheduling import ScheduleBook, load_plan
from drone_ops.store import Store, open_store
from drone_ops.store.engine import read_tx
from drone_ops.store.schema import controller_leases, incidents, sorties
from drone_ops.store.verify import verify_store
from missions.formats import save_plan
from missions.plan import Home, ItemKind
from telemetry.outbox import Outbox
from tests.scheduler.conftest import pg_url
from tests.serve_process import start_serve
from tests.telemetry.telemetry_brokers import PRIVATE_USERS, PrivateBroker, subscriber
from tests.waits import until

pytestmark = pytest.mark.slow

SPEEDUP = 20.0
LEASE_TTL_S = 120.0  # far longer than the test: a restart that waited for expiry times out
ME = "ctl-restart"
__all__ = ["pg_url"]  # a fixture: a fresh PostgreSQL database per test


def write_config(tmp: Path, *, store: str, vehicle_url: str, mqtt_port: int, fleet: str) -> Path:
    (tmp / "controller.toml").write_text("[timeouts]\nstate_change_s = 150\n")
    user, password = "bridge", PRIVATE_USERS["bridge"]
    cfg = tmp / "serve.toml"
    cfg.write_text(
        f'[service]\ncontroller_id = "{ME}"\nstore = "{store}"\nmetrics_port = -1\n'
        f"leases = true\nlease_ttl_s = {LEASE_TTL_S}\nspeedup = {SPEEDUP}\n"
        f'scheduler_poll_s = 0.5\ncontroller_config = "controller.toml"\n'
        f'tlog_dir = "{tmp / "tlog"}"\n'
        f'mqtt = "mqtt://{user}:{password}@127.0.0.1:{mqtt_port}"\nfleet = "{fleet}"\n'
        f'\n[[vehicles]]\nid = "v1"\nconnect = "{vehicle_url}"\n'
    )
    return cfg


def rows(store: Store, query: Any) -> list[Any]:
    with read_tx(store.engine) as conn:
        return list(conn.execute(query).all())


def sortie_events(messages: list[Any]) -> Counter[tuple[str, int]]:
    """(kind, sortie id) of every event message received, duplicates counted."""
    seen: Counter[tuple[str, int]] = Counter()
    for m in messages:
        event = json.loads(bytes(m.payload))
        if str(event["kind"]).startswith("sortie."):
            seen[(event["kind"], int(event["body"]["sortie_id"]))] += 1
    return seen


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The embedded store, and the shared one several controllers would use."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ops.db'}"
    return str(request.getfixturevalue("pg_url"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the store, the broker and the vehicle say after kill, restart and SIGTERM."""

    victim: Any  # the sortie row as it was when serve was killed
    lease: Any  # the lease row right after the kill
    ended: Any  # the sortie row once the restarted serve closed it
    all_sorties: list[Any]
    runs: list[Any]
    entries: list[Any]
    report: Any
    lease_after: Any
    raised: list[Any]
    events: Counter[tuple[str, int]]
    landed_and_disarmed: bool

    @property
    def resumed(self) -> list[Any]:
        return [e for e in self.entries if e.action == "sortie.resume_after_restart"]

    def requests(self) -> list[Any]:
        """Fenced command requests (each stamped with the lease token it was sent under)."""
        return [
            e
            for e in self.entries
            if e.action.startswith("command.") and "lease_token" in e.payload
        ]


async def kill_and_restart(sim: Any, url: str, tmp_path: Path, plan: PlanSource) -> Outcome:
    """Fly one scheduled sortie under serve, SIGKILL serve once the vehicle climbs,
    start it again (broker now up), wait until it closes the sortie, SIGTERM it."""
    fleet_name = f"restart-{uuid.uuid4().hex[:10]}"
    broker_dir = tmp_path / "mosquitto"
    broker_dir.mkdir()
    broker = PrivateBroker(broker_dir, PRIVATE_USERS)  # its port is chosen, not yet listening
    now = datetime.now(UTC)
    (vehicle,) = sim.builtin_vehicles("watches the vehicle through the kill")
    async with open_store(url) as store:
        await ScheduleBook(store, actor="test").add(
            Schedule(  # one run, 2 s from now; the next would be in an hour
                name="once",
                plan=plan,
                interval_s=3600,
                anchor_utc=now + timedelta(seconds=2),
                preconditions=Preconditions(min_battery_pct=30),
                late_grace_s=300,  # a slow start of serve on a loaded box still flies it
                # the vehicle's home may arrive after serve first sees it: look again soon
                retry=RetryPolicy(max_attempts=60, delay_s=1.0),
            ),
            now=now,
        )
        cfg = write_config(
            tmp_path,
            store=url,
            vehicle_url=sim.api_url(0),
            mqtt_port=broker.port,
            fleet=fleet_name,
        )
        first = await start_serve(  # same cwd both times: the MQTT outbox lives in ./var
            "--config", str(cfg), "--log-level", "warning", cwd=tmp_path
        )
        second: asyncio.subprocess.Process | None = None
        try:
            # ---- first run: wait until the sortie is open and the vehicle climbing
            async def flying() -> Any:
                open_rows = await asyncio.to_thread(
                    rows, store, select(sorties).where(sorties.c.ended_us.is_(None))
                )
                return open_rows if open_rows and vehicle.alt_m() > 5.0 else None

            try:
                (victim,) = await until(flying, 120, "the scheduled sortie in the air")
            except AssertionError as exc:
                first.kill()
                _, err = await first.communicate()
                said = [ln for ln in err.decode().splitlines() if "mqtt_bridge" not in ln]
                runs_now = await ScheduleBook(store).runs("once")
                raise AssertionError(f"{exc}; runs {runs_now}; serve said: {said[-30:]}") from None
            assert victim.controller == ME
            first.send_signal(signal.SIGKILL)  # no shutdown: nothing is closed or released
            await first.wait()
            assert vehicle.armed  # still flying its mission, unattended

            (lease,) = await asyncio.to_thread(rows, store, select(controller_leases))
            assert lease.holder == ME
            async with Outbox(tmp_path / "var" / f"mqtt-outbox-{ME}.sqlite") as outbox:
                assert len(outbox) >= 1  # sortie.opened accepted, never delivered

            # ---- restart with the broker up and a subscriber listening
            broker.start()
            events_topic = f"drone-ops/{fleet_name}/+/events"
            async with subscriber(broker.config("watcher", "watcher-secret"), events_topic) as got:
                second = await start_serve(  # same cwd: the outbox of the first is there
                    "--config", str(cfg), "--log-level", "warning", cwd=tmp_path
                )

                async def closed() -> Any:
                    (row,) = await asyncio.to_thread(
                        rows,
                        store,
                        select(sorties).where(sorties.c.sortie_id == victim.sortie_id),
                    )
                    return row if row.ended_us is not None else None

                ended = await until(closed, 150, "the restarted controller to close the sortie")

                async def close_announced() -> bool:
                    return sortie_events(got.messages)[("sortie.closed", victim.sortie_id)] >= 1

                await until(close_announced, 30, "sortie.closed on MQTT")
                second.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    _, err = await second.communicate()
                assert second.returncode == 0, err.decode()[-2000:]
                events = sortie_events(got.messages)
        finally:
            for p in (first, second):
                if p is not None and p.returncode is None:
                    p.kill()
                    await p.wait()
            broker.stop()

        (lease_after,) = await asyncio.to_thread(rows, store, select(controller_leases))
        return Outcome(
            victim=victim,
            lease=lease,
            ended=ended,
            all_sorties=await store.sorties(limit=100),
            runs=await ScheduleBook(store).runs("once"),
            entries=await store.audit.entries(limit=100_000),
            report=await verify_store(store),
            lease_after=lease_after,
            raised=await asyncio.to_thread(rows, store, select(incidents)),
            events=events,
            landed_and_disarmed=not vehicle.armed and not vehicle.in_air(),
        )


def assert_resumed_and_closed_once(o: Outcome) -> None:
    """The properties every restart must have, whatever the plan."""
    sortie_id = o.victim.sortie_id
    assert [s.sortie_id for s in o.all_sorties] == [sortie_id]  # no second sortie
    assert o.ended.controller == ME
    assert o.ended.outcome == "completed"  # the patrol was flown to the end
    assert len(o.runs) == 1
    assert o.runs[0].sortie_id == sortie_id
    assert o.runs[0].status == "completed"
    assert o.runs[0].finished_utc is not None

    assert [e.target for e in o.resumed] == [f"sortie:{sortie_id}"]
    assert not [e for e in o.entries if e.action == "sortie.take_over"]
    # the lease came back at once (before the dead process's lease expired), fenced
    assert o.resumed[0].time_utc.timestamp() * 1e6 < o.lease.expires_us
    assert o.resumed[0].payload["lease_token"] == o.lease.fencing_token + 1
    assert o.lease_after.fencing_token == o.lease.fencing_token + 1
    before = [e for e in o.requests() if e.seq < o.resumed[0].seq]
    assert before
    assert {e.payload["lease_token"] for e in before} == {o.lease.fencing_token}

    assert o.report.ok, o.report.summary()
    kinds = Counter((i.kind, i.vehicle_id, i.sortie_id) for i in o.raised)
    assert all(n == 1 for n in kinds.values()), kinds

    assert o.events[("sortie.opened", sortie_id)] == 1  # from the outbox, once
    assert o.events[("sortie.closed", sortie_id)] == 1
    assert o.landed_and_disarmed


@pytest.mark.timeout(240)
async def test_controller_killed_mid_sortie_resumes_it_after_restart(
    sim_fleet: Any, store_url: str, tmp_path: Path
) -> None:
    async with sim_fleet(count=1, speedup=SPEEDUP) as sim:
        o = await kill_and_restart(
            sim,
            store_url,
            tmp_path,
            PlanSource(generator="square", params={"side_m": 300, "alt_m": 20}),
        )
    assert_resumed_and_closed_once(o)
    # the plan ends with its own return: the restarted controller only watched
    assert all(e.seq < o.resumed[0].seq for e in o.requests())


@pytest.mark.timeout(240)
async def test_restarted_controller_sends_home_a_vehicle_left_at_its_last_waypoint(
    sim_fleet: Any, tmp_path: Path
) -> None:
    """A plan without a final return: the dead controller would have sent RTL at the
    end; the vehicle holds at its last waypoint instead, and the restarted one must."""
    async with sim_fleet(count=1, speedup=SPEEDUP) as sim:
        (vehicle,) = sim.builtin_vehicles("reads the vehicle's home")
        lat, lon = vehicle.position()
        home = Home(lat_deg=lat, lon_deg=lon, amsl_m=vehicle.amsl_m())
        square = load_plan(
            PlanSource(generator="square", params={"side_m": 200, "alt_m": 20}),
            home=home,
            name="open-ended",
        )
        assert square.items[-1].kind is ItemKind.RETURN_TO_LAUNCH
        plan_file = tmp_path / "open-ended.plan"
        save_plan(replace(square, items=square.items[:-1]), str(plan_file))
        o = await kill_and_restart(
            sim, f"sqlite:///{tmp_path / 'ops.db'}", tmp_path, PlanSource(file=str(plan_file))
        )
    assert_resumed_and_closed_once(o)
    after = [e for e in o.requests() if e.seq > o.resumed[0].seq]
    assert [e.action for e in after] == ["command.rtl.request"]  # once, and nothing else
    assert after[0].payload["lease_token"] == o.lease.fencing_token + 1
