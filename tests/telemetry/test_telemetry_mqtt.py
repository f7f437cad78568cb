"""The MQTT bridge against a real Mosquitto."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from telemetry_brokers import PrivateBroker, Received, free_port, subscriber

from telemetry import (
    Backoff,
    BridgeConfig,
    EventMessage,
    LinkState,
    MqttBridge,
    MqttConfig,
    TelemetryBus,
    TelemetrySample,
    decode_event,
    decode_sample,
)

FAST_RETRY = Backoff(initial_s=0.02, max_s=0.2, jitter=0.5)


def sample(vehicle: str, i: int, **kw: object) -> TelemetrySample:
    return TelemetrySample(
        vehicle_id=vehicle,
        time_unix_us=1_800_000_000_000_000 + i * 20_000,  # 50 Hz
        boot_time_ms=i * 20,
        lat_deg=47.0 + i * 1e-6,
        lon_deg=8.0,
        **kw,  # type: ignore[arg-type]
    )


def bridge_config(tmp_path: Path, fleet: str, **kw: object) -> BridgeConfig:
    return BridgeConfig(
        fleet=fleet,
        controller_id="ctl-1",
        outbox_path=tmp_path / "outbox.sqlite",
        backoff=FAST_RETRY,
        **kw,  # type: ignore[arg-type]
    )


async def test_samples_on_the_bus_reach_a_subscriber_decimated_per_vehicle(
    tmp_path: Path, machine_broker: MqttConfig, fleet: str
) -> None:
    topic = f"drone-ops/{fleet}/+/telemetry"
    async with (
        TelemetryBus() as bus,
        subscriber(machine_broker, topic) as got,
        MqttBridge(machine_broker, bridge_config(tmp_path, fleet, telemetry_rate_hz=5), bus) as br,
    ):
        async with asyncio.timeout(10):
            await br.wait_connected()
        published: dict[str, list[TelemetrySample]] = {"v1": [], "v2": []}
        for i in range(100):  # two seconds of 50 Hz telemetry from two vehicles
            for vid in published:
                s = sample(vid, i)
                published[vid].append(s)
                bus.publish(s)
        bus.publish(sample("sentinel", 0))  # arrives after everything published before it
        async with asyncio.timeout(10):
            await got.wait_for(1, "sentinel/telemetry")
        for vid, sent in published.items():
            on_wire = [decode_sample(p) for p in got.payloads(f"/{vid}/telemetry")]
            # 5 Hz of a 50 Hz stream: every 10th sample, the first one included.
            assert on_wire == sent[::10]
        stats = br.stats()
        assert stats.telemetry_sent == 21
        assert stats.telemetry_decimated == 180
        assert stats.telemetry_dropped == 0
        assert stats.state is LinkState.CONNECTED


async def test_state_is_retained_and_follows_changes(
    tmp_path: Path, machine_broker: MqttConfig, fleet: str
) -> None:
    cfg = bridge_config(tmp_path, fleet, telemetry_rate_hz=0, state_interval_s=60)
    async with (
        subscriber(machine_broker, f"drone-ops/{fleet}/+/state") as live,
        TelemetryBus() as bus,
        MqttBridge(machine_broker, cfg, bus) as br,
    ):
        async with asyncio.timeout(10):
            await br.wait_connected()
        for i in range(50):
            bus.publish(sample("v1", i, mode="AUTO.MISSION", armed=True))
        last = sample("v1", 50, mode="AUTO.RTL", armed=True)
        bus.publish(last)
        bus.publish(sample("v1", 51, mode="AUTO.RTL", armed=True))  # no change: not sent
        async with asyncio.timeout(10):
            await live.wait_for(2)  # the first state, then the mode change
    # The bridge is gone; a newcomer still sees the last state, flagged as retained.
    async with subscriber(machine_broker, f"drone-ops/{fleet}/+/state") as got:
        async with asyncio.timeout(10):
            (payload,) = await got.wait_for(1)
        assert got.messages[0].retain
        assert decode_sample(payload) == last
    assert br.stats().state_sent == 2


async def test_presence_online_then_offline_on_a_clean_exit(
    tmp_path: Path, machine_broker: MqttConfig, fleet: str
) -> None:
    topic = f"drone-ops/{fleet}/controllers/ctl-1"
    async with subscriber(machine_broker, topic) as got:
        async with MqttBridge(machine_broker, bridge_config(tmp_path, fleet)) as br:
            async with asyncio.timeout(10):
                await br.wait_connected()
                await got.wait_for(1)
        async with asyncio.timeout(10):
            assert await got.wait_for(2) == [b"online", b"offline"]
    assert [m.retain for m in got.messages] == [False, False]  # live deliveries


BRIDGE_SCRIPT = """
import asyncio, sys
from pathlib import Path
from telemetry import BridgeConfig, MqttBridge, MqttConfig

async def main():
    cfg = BridgeConfig(fleet=sys.argv[1], controller_id="ctl-9", outbox_path=Path(sys.argv[2]))
    async with MqttBridge(MqttConfig(host="127.0.0.1", port=1883), cfg) as bridge:
        await bridge.wait_connected()
        print("ready", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_last_will_says_offline_when_the_controller_dies(
    tmp_path: Path, machine_broker: MqttConfig, fleet: str
) -> None:
    topic = f"drone-ops/{fleet}/controllers/ctl-9"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BRIDGE_SCRIPT,
        fleet,
        str(tmp_path / "outbox.sqlite"),
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            assert await proc.stdout.readline() == b"ready\n"
        async with subscriber(machine_broker, topic) as got:
            async with asyncio.timeout(10):
                assert await got.wait_for(1) == [b"online"]
            assert got.messages[0].retain
            proc.send_signal(signal.SIGKILL)  # no goodbye: only the broker can tell
            await proc.wait()
            async with asyncio.timeout(10):
                assert await got.wait_for(2) == [b"online", b"offline"]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    # ...and the "offline" is retained for whoever looks later.
    async with subscriber(machine_broker, topic) as later:
        async with asyncio.timeout(10):
            assert await later.wait_for(1) == [b"offline"]
        assert later.messages[0].retain


async def test_broker_killed_mid_stream_every_event_arrives_once_in_order(
    tmp_path: Path, private_broker: PrivateBroker, fleet: str
) -> None:
    as_bridge = private_broker.config("bridge", "bridge-secret")
    as_watcher = private_broker.config("watcher", "watcher-secret")
    topics = (f"drone-ops/{fleet}/+/events", f"drone-ops/{fleet}/incidents")
    got = Received()
    sent: list[str] = []

    async def emit(i: int) -> None:
        event = EventMessage(kind="waypoint", vehicle_id="v1", time_unix_us=i, body={"i": i})
        if i % 5 == 4:
            await bridge.publish_incident(event)
        else:
            await bridge.publish_event(event)
        sent.append(event.event_id)

    async with (
        TelemetryBus() as bus,
        MqttBridge(as_bridge, bridge_config(tmp_path, fleet), bus) as bridge,
    ):
        async with subscriber(as_watcher, *topics, received=got):
            async with asyncio.timeout(10):
                await bridge.wait_connected()
            for i in range(10):
                bus.publish(sample("v1", i))  # telemetry keeps flowing throughout
                await emit(i)
            async with asyncio.timeout(10):
                await bridge.flush()
                await got.wait_for(10)

            private_broker.kill()
            # The bridge has not noticed yet: these go out on a dead connection or wait.
            for i in range(10, 30):
                bus.publish(sample("v1", i))
                await emit(i)
            async with asyncio.timeout(10):
                await bridge.wait_state(LinkState.DISCONNECTED)
            assert bridge.stats().outbox_depth == 20, "nothing was acknowledged by a dead broker"

        # Restart with only the watcher allowed in, so that it is subscribed before the
        # bridge can deliver; then let the bridge in (its retries were being refused).
        private_broker.set_users({"watcher": "watcher-secret"})
        private_broker.start()
        async with subscriber(as_watcher, *topics, received=got):
            refused_before = bridge.stats().failed_connects
            async with asyncio.timeout(10):
                while bridge.stats().failed_connects == refused_before:
                    await bridge.wait_state(LinkState.CONNECTING)
                    await bridge.wait_state(LinkState.DISCONNECTED)
            private_broker.set_users({"watcher": "watcher-secret", "bridge": "bridge-secret"})
            private_broker.reload()
            async with asyncio.timeout(15):
                await bridge.flush()
                await got.wait_for(30)
            stats = bridge.stats()
    received_ids = [decode_event(p).event_id for p in got.payloads()]
    assert received_ids == sent  # all of them, each once, in the order they were accepted
    assert stats.connects == 2
    assert stats.outbox_delivered == 30
    assert stats.outbox_depth == 0


async def test_events_accepted_while_no_broker_is_reachable_survive_a_restart(
    tmp_path: Path, machine_broker: MqttConfig, fleet: str
) -> None:
    nowhere = MqttConfig(host="127.0.0.1", port=_closed_port(), connect_timeout_s=1)
    events = [
        EventMessage(kind="armed", vehicle_id="v3", time_unix_us=i, body={"n": i}) for i in range(5)
    ]
    async with MqttBridge(nowhere, bridge_config(tmp_path, fleet)) as bridge:
        for event in events:
            await bridge.publish_event(event)
        assert bridge.state is not LinkState.CONNECTED
        assert bridge.stats().outbox_depth == 5
    assert (tmp_path / "outbox.sqlite").stat().st_size > 0

    async with (
        subscriber(machine_broker, f"drone-ops/{fleet}/v3/events") as got,
        MqttBridge(machine_broker, bridge_config(tmp_path, fleet)) as bridge,
    ):
        assert bridge.stats().outbox_depth == 5
        async with asyncio.timeout(10):
            await bridge.flush()
            payloads = await got.wait_for(5)
    assert [decode_event(p) for p in payloads] == events


def _closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


@pytest.mark.parametrize("bad", ["", "a/b", "x+", "#"])
def test_fleet_names_that_break_topics_are_refused(tmp_path: Path, bad: str) -> None:
    from telemetry import MqttConfigError

    with pytest.raises(MqttConfigError, match="cannot be used in an MQTT topic"):
        bridge_config(tmp_path, bad)
