"""`drone-ops serve` as a real process: metrics endpoint, scheduled sortie, SIGTERM.

The service runs two simulated vehicles in its own process (`--sim 2`), a
real SQLite store, and a schedule that fires every 3 s. Once a
vehicle is in the air, SIGTERM must leave it safe (RTL sent, audited) and the
sortie and its run recorded as aborted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from drone_ops.schedule import PlanSource, Preconditions, Schedule
from drone_ops.scheduling import ScheduleBook
from drone_ops.store import open_store

SPEEDUP = 20.0
REPO = str(Path(__file__).resolve().parents[2])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def any_in_air(m: dict[str, float]) -> bool:
    return any(m.get(f'drone_ops_vehicle_in_air{{vehicle="sim{i}"}}') == 1.0 for i in (1, 2))


async def wait_for_metric(port: int, pred: object, timeout_s: float = 60.0) -> dict[str, float]:
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                m = await asyncio.to_thread(scrape, port)
                if pred(m):  # type: ignore[operator]
                    return m
            except OSError:
                pass  # not listening yet
            await asyncio.sleep(0.2)  # polling an HTTP endpoint from outside the process


async def test_serve_exposes_metrics_flies_schedules_and_stops_safely_on_sigterm(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    async with open_store(url) as store:
        await ScheduleBook(store, actor="test").add(
            Schedule(
                name="minutely",
                plan=PlanSource(generator="square", params={"side_m": 200, "alt_m": 20}),
                interval_s=3,
                preconditions=Preconditions(min_battery_pct=50),
            ),
            now=datetime.now(UTC),
        )
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drone_ops.cli", "serve", "--store", url,
        "--controller-id", "ctl-test", "--metrics-port", str(port),
        "--sim", "2", "--speedup", str(SPEEDUP),
        cwd=tmp_path, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": REPO},
    )  # fmt: skip
    try:
        up = await wait_for_metric(
            port, lambda m: m.get('drone_ops_vehicle_link_up{vehicle="sim1"}') == 1.0
        )
        assert up["drone_ops_vehicles"] == 2.0
        assert 'drone_ops_queue_depth{bus="telemetry",subscriber="store-writer"}' in up
        flying = await wait_for_metric(port, any_in_air, timeout_s=90)
        assert flying['drone_ops_schedule_runs_total{result="claimed"}'] >= 1
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    logs = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert any("sent sim" in r["msg"] and "home (RTL)" in r["msg"] for r in logs)
    assert all({"ts", "level", "logger", "msg"} <= r.keys() for r in logs)

    async with open_store(url) as store:
        sorties = await store.sorties()
        runs = await ScheduleBook(store).runs("minutely")
        entries = await store.audit.entries(limit=100_000)
    assert sorties
    assert all(s.ended_us is not None for s in sorties)  # every sortie has a recorded end
    last = sorties[0]
    assert last.outcome is not None
    assert last.outcome.value == "aborted"
    assert any(r.sortie_id == last.sortie_id and r.status == "aborted" for r in runs)
    rtl = [
        e for e in entries
        if e.action == "command.rtl.result" and e.target == f"vehicle:{last.vehicle_id}"
    ]  # fmt: skip
    assert rtl
    assert rtl[-1].payload["result"] == "ok"
