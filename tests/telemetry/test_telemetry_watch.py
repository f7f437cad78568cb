"""`drone-ops watch` against the real broker, and its line format."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from telemetry import (
    BridgeConfig,
    EventMessage,
    MqttBridge,
    MqttConfig,
    TelemetryBus,
    TelemetrySample,
    encode_event,
    encode_sample,
)
from telemetry.mqtt_watch import format_message, watch_topic

REPO = Path(__file__).parents[2]
T = 1_800_000_000_000_000  # 2027-01-15 08:00:00 UTC


def _terminal_sigint() -> None:
    """In the child: SIGINT at its default, as under a terminal. A test run started
    in the background (`pytest … &`, nohup, some CI runners) ignores SIGINT, the
    child inherits that, Python then installs no KeyboardInterrupt, and Ctrl-C
    would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@asynccontextmanager
async def drone_ops_watch(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drone_ops.cli",
        "watch",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_terminal_sigint,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_watch_prints_state_presence_and_events_then_ctrl_c_ends_it_cleanly(
    tmp_path: Path, machine_broker: MqttConfig, fleet: str
) -> None:
    cfg = BridgeConfig(fleet=fleet, controller_id="ctl-1", outbox_path=tmp_path / "o.sqlite")
    sample = TelemetrySample(
        vehicle_id="v7",
        time_unix_us=T,
        boot_time_ms=1,
        lat_deg=47.397742,
        lon_deg=8.545594,
        rel_alt_m=30.0,
        mode="AUTO.MISSION",
        armed=True,
        landed_state="IN_AIR",
        battery_pct=87.0,
        battery_v=15.9,
    )
    async with TelemetryBus() as bus, MqttBridge(machine_broker, cfg, bus) as bridge:
        async with asyncio.timeout(10):
            await bridge.wait_connected()
        bus.publish(sample)
        async with drone_ops_watch("--broker", "mqtt://127.0.0.1:1883", "--fleet", fleet) as proc:
            assert proc.stdout is not None
            lines: list[str] = []
            async with asyncio.timeout(30):
                while len(lines) < 2:  # the retained presence and state, in either order
                    lines.append((await proc.stdout.readline()).decode())
                await bridge.publish_event(
                    EventMessage(
                        kind="mode_changed",
                        vehicle_id="v7",
                        time_unix_us=T + 1_000,
                        body={"to": "AUTO.RTL"},
                    )
                )
                lines.append((await proc.stdout.readline()).decode())
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(10):
                _, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    state_line = next(line for line in lines if " state " in line)
    assert f"{fleet}/v7  state (retained)" in state_line
    assert "47.397742,8.545594  30.0 m  AUTO.MISSION  armed  IN_AIR  bat 87% 15.9 V" in state_line
    assert state_line.startswith("08:00:00.000")
    assert any(f"{fleet}  controller ctl-1 (retained)  online" in line for line in lines)
    assert "08:00:00.001" in lines[2]
    assert 'v7  event  mode_changed  {"to":"AUTO.RTL"}' in lines[2]


async def test_watch_says_in_one_line_when_the_broker_is_unreachable() -> None:
    from telemetry_brokers import free_port

    async with drone_ops_watch("--broker", f"mqtt://127.0.0.1:{free_port()}") as proc:
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    assert proc.returncode == 2
    assert out == b""
    text = err.decode()
    assert text.count("\n") == 1
    assert text.startswith("drone-ops watch: error: cannot connect to the MQTT broker at mqtt://")
    assert "Connection refused" in text


def test_topics_for_fleet_and_vehicle() -> None:
    assert watch_topic() == "drone-ops/#"
    assert watch_topic("north") == "drone-ops/north/#"
    assert watch_topic(None, "v1") == "drone-ops/+/v1/#"
    assert watch_topic("north", "v1") == "drone-ops/north/v1/#"


def test_every_kind_of_message_becomes_one_readable_line() -> None:
    sample = TelemetrySample(
        vehicle_id="v1", time_unix_us=T, boot_time_ms=0, gps_fix=3, satellites=11
    )
    telemetry = format_message("drone-ops/n/v1/telemetry", encode_sample(sample))
    assert telemetry == "08:00:00.000  n/v1  telemetry  UNKNOWN  disarmed  UNKNOWN  gps 3/11"
    incident = EventMessage(
        kind="geofence_breach", vehicle_id="v1", time_unix_us=T, body={"severity": "high"}
    )
    assert (
        format_message("drone-ops/n/incidents", encode_event(incident))
        == '08:00:00.000  n  incident  geofence_breach  v1  {"severity":"high"}'
    )
    bad = format_message("drone-ops/n/v1/state", b'{"vehicle_id": 3}', retained=True)
    assert "drone-ops/n/v1/state (retained)  (undecodable: telemetry field 'vehicle_id'" in bad
    other = format_message("drone-ops/n/v1/unknown-channel", b"hello")
    assert other.endswith("drone-ops/n/v1/unknown-channel  b'hello'")
    for line in (telemetry, bad, other):
        assert "\n" not in line
