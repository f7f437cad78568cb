"""Telemetry pipeline figures: bus publish cost, codec cost, MQTT throughput and latency.

Every figure has a baseline measured in the same run, so the ratio says what
our layer costs whatever the machine and its load:

- bus publish, ns per sample, with 1 and 3 subscribers (LATEST, LOSSLESS,
  LATEST) — baseline: ``asyncio.Queue.put_nowait`` into as many queues;
- encode, µs per sample — baseline: ``json.dumps(dataclasses.asdict(s))``;
- MQTT telemetry messages per second through the bridge (bus → decimation →
  aiomqtt → Mosquitto → a subscriber) — baseline: a bare aiomqtt client
  publishing the same encoded payloads to the same broker;
- QoS 1 events per second through the durable outbox (fsync'd SQLite, PUBACK
  before delete) — baseline: bare aiomqtt QoS 1 publishes, awaited one by one;
- latency p50/p99 from `bus.publish` to the MQTT subscriber with N vehicles at
  R Hz (default 50 × 50 Hz, the PX4 onboard GLOBAL_POSITION_INT rate).

The end-to-end bench of issue 5 (MAVLink arrival → MQTT subscriber) plugs in
here: `latency()` takes a `producer` coroutine that publishes samples on the
bus. `synthetic_producer` stamps each sample as it publishes it (bus → MQTT
only); `fleet_producer` runs the controller's `Fleet` on PX4-rate MAVLink
streams from a child process, so the figure includes the vehicle sessions
(their samples are stamped when formed, on the session's sample timer).

    .venv/bin/python bench/telemetry_mqtt.py [--broker mqtt://127.0.0.1:1883]
        [--samples 20000] [--events 2000] [--vehicles 50] [--rate-hz 50] [--seconds 5]
        [--source synthetic|fleet|both] [--mqtt-rate-hz 5]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aiomqtt
from synthetic import synthetic_sample, synthetic_samples

from telemetry import (
    BridgeConfig,
    EventMessage,
    MqttBridge,
    MqttConfig,
    Policy,
    TelemetryBus,
    TelemetrySample,
    decode_sample,
    encode_sample,
)
from telemetry.mqtt_client import connect

Producer = Callable[[TelemetryBus, int, float, float], Awaitable[int]]


def row(name: str, value: float, unit: str, baseline: float | None = None, *, lower: bool) -> None:
    ratio = ""
    if baseline:
        r = value / baseline
        ratio = f"   {r:6.2f}× baseline ({'lower' if lower else 'higher'} is better)"
    print(f"  {name:<46} {value:>12,.1f} {unit}{ratio}")


# ---------------------------------------------------------------- in-process


async def bench_bus(n: int) -> None:
    samples = synthetic_samples(n)
    print(f"bus publish ({n:,} samples, nobody reading while publishing)")
    for subs in (1, 3):
        queues: list[asyncio.Queue[TelemetrySample]] = [asyncio.Queue() for _ in range(subs)]
        t0 = time.perf_counter_ns()
        for s in samples:
            for q in queues:
                q.put_nowait(s)
        base = (time.perf_counter_ns() - t0) / n
        policies = [Policy.LATEST, Policy.LOSSLESS, Policy.LATEST][:subs]
        with tempfile.TemporaryDirectory() as spool:
            async with (
                TelemetryBus(spool_dir=Path(spool)) as bus,
                contextlib_nested(bus, policies, n),
            ):
                t0 = time.perf_counter_ns()
                for s in samples:
                    bus.publish(s)
                ours = (time.perf_counter_ns() - t0) / n
        row(f"baseline asyncio.Queue.put_nowait × {subs}", base, "ns/sample", lower=True)
        row(f"TelemetryBus.publish, {subs} subscriber(s)", ours, "ns/sample", base, lower=True)
    # The LOSSLESS spill path: a subscriber holding only 1,000 in memory.
    with tempfile.TemporaryDirectory() as spool:
        async with (
            TelemetryBus(spool_dir=Path(spool)) as bus,
            bus.subscribe("store", policy=Policy.LOSSLESS, maxsize=1_000) as sub,
        ):
            t0 = time.perf_counter_ns()
            for s in samples:
                bus.publish(s)
            spill = (time.perf_counter_ns() - t0) / n
            t0 = time.perf_counter_ns()
            got = 0
            while got < n:
                got += len(await sub.get_batch(2_000))
            read_back = (time.perf_counter_ns() - t0) / n
            spilled = sub.stats().spilled
    row(f"LOSSLESS publish, {spilled:,} spilled to disk", spill, "ns/sample", lower=True)
    row("LOSSLESS read back in order (get_batch)", read_back, "ns/sample", lower=True)


class contextlib_nested:
    """Enter one subscription per policy for the duration of a block."""

    def __init__(self, bus: TelemetryBus, policies: list[Policy], maxsize: int) -> None:
        self._cms = [
            bus.subscribe(f"s{i}", policy=p, maxsize=maxsize) for i, p in enumerate(policies)
        ]

    async def __aenter__(self) -> None:
        for cm in self._cms:
            await cm.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        for cm in reversed(self._cms):
            await cm.__aexit__(None, None, None)


def bench_codec(n: int) -> None:
    samples = synthetic_samples(n)
    t0 = time.perf_counter()
    for s in samples:
        json.dumps(dataclasses.asdict(s)).encode()
    base = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    encoded = [encode_sample(s) for s in samples]
    ours = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for data in encoded:
        decode_sample(data)
    dec = (time.perf_counter() - t0) / n * 1e6
    print(f"codec ({n:,} samples, {len(encoded[0])} bytes each on the wire)")
    row("baseline json.dumps(asdict(sample))", base, "µs/sample", lower=True)
    row("encode_sample", ours, "µs/sample", base, lower=True)
    row("decode_sample (type-checked)", dec, "µs/sample", base, lower=True)


# ---------------------------------------------------------------- MQTT


class Counter:
    def __init__(self, expected: int | None) -> None:
        self.expected = expected
        self.count = 0
        self.latencies_us: list[int] = []
        self.done = asyncio.Event()


async def _count_messages(client: aiomqtt.Client, counter: Counter, *, latency: bool) -> None:
    async for message in client.messages:
        counter.count += 1
        if latency:
            now_us = time.time_ns() // 1000
            sample = decode_sample(message.payload)  # type: ignore[arg-type]
            counter.latencies_us.append(now_us - sample.time_unix_us)
        if counter.expected is not None and counter.count >= counter.expected:
            counter.done.set()


async def _with_subscriber(
    mqtt: MqttConfig,
    topic: str,
    expected: int | None,
    work: Callable[[], Awaitable[None]],
    *,
    latency: bool = False,
    timeout_s: float = 60,
) -> tuple[float, Counter]:
    counter = Counter(expected)
    async with connect(mqtt, identifier=f"bench-sub-{uuid.uuid4().hex[:8]}") as sub:
        await sub.subscribe(topic, qos=1)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(_count_messages(sub, counter, latency=latency), name="bench-sub")
            t0 = time.perf_counter()
            await work()
            try:
                if expected is not None:
                    async with asyncio.timeout(timeout_s):
                        await counter.done.wait()
            except TimeoutError:
                print(f"  (only {counter.count:,} of {expected:,} arrived within {timeout_s} s)")
            elapsed = time.perf_counter() - t0
            task.cancel()
    return elapsed, counter


async def bench_mqtt_throughput(mqtt: MqttConfig, n: int, outbox_dir: Path) -> None:
    """Publisher-side rate (what the broker accepted per second); a subscriber counts
    what it got, which on QoS 0 may be fewer: Mosquitto drops QoS 0 for slow readers."""
    fleet = f"bench-{uuid.uuid4().hex[:8]}"
    samples = synthetic_samples(n)
    payloads = [encode_sample(s) for s in samples]
    topic = f"drone-ops/{fleet}/+/telemetry"
    rates: dict[str, float] = {}

    async def raw() -> None:
        async with connect(mqtt) as client:
            t0 = time.perf_counter()
            for s, p in zip(samples, payloads, strict=True):
                await client.publish(f"drone-ops/{fleet}/{s.vehicle_id}/telemetry", p, qos=0)
            rates["raw"] = n / (time.perf_counter() - t0)

    _, base_count = await _with_subscriber(mqtt, topic, n, raw, timeout_s=10)

    cfg = BridgeConfig(
        fleet=fleet,
        controller_id="bench",
        outbox_path=outbox_dir / "telemetry-outbox.sqlite",
        telemetry_rate_hz=1e6,  # no decimation: measure the pipe
        state_interval_s=3600,
        queue_maxsize=n,
    )
    async with TelemetryBus() as bus, MqttBridge(mqtt, cfg, bus) as bridge:
        await bridge.wait_connected()

        async def through_bridge() -> None:
            t0 = time.perf_counter()
            for s in samples:
                bus.publish(s)
            # A bench may poll: the bridge has no "all sent" event.
            while bridge.stats().telemetry_sent + bridge.stats().telemetry_dropped < n:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            rates["bridge"] = n / (time.perf_counter() - t0)

        _, ours_count = await _with_subscriber(mqtt, topic, n, through_bridge, timeout_s=10)
        dropped = bridge.stats().telemetry_dropped
    print(f"MQTT telemetry, QoS 0 ({n:,} samples from 50 vehicles, {mqtt.address})")
    row(
        f"baseline bare aiomqtt publish (sub got {base_count.count:,})",
        rates["raw"],
        "msg/s",
        lower=False,
    )
    row(
        f"bridge bus→MQTT (sub got {ours_count.count:,}, dropped {dropped})",
        rates["bridge"],
        "msg/s",
        rates["raw"],
        lower=False,
    )


async def bench_events(mqtt: MqttConfig, n: int, outbox_dir: Path) -> None:
    fleet = f"bench-{uuid.uuid4().hex[:8]}"
    topic = f"drone-ops/{fleet}/+/events"
    events = [
        EventMessage(kind="waypoint_reached", vehicle_id="v1", time_unix_us=i, body={"seq": i})
        for i in range(n)
    ]

    async def raw() -> None:
        from telemetry import encode_event

        async with connect(mqtt) as client:
            for e in events:
                await client.publish(f"drone-ops/{fleet}/v1/events", encode_event(e), qos=1)

    base_s, base_count = await _with_subscriber(mqtt, topic, n, raw)
    cfg = BridgeConfig(fleet=fleet, controller_id="bench", outbox_path=outbox_dir / "ev.sqlite")
    async with MqttBridge(mqtt, cfg) as bridge:
        await bridge.wait_connected()

        async def through_outbox() -> None:
            for e in events:
                await bridge.publish_event(e)  # durable (fsync) before it returns

        ours_s, ours_count = await _with_subscriber(mqtt, topic, n, through_outbox)

        async def fifty_producers() -> None:  # 50 vehicle sessions, each awaiting its own
            async with asyncio.TaskGroup() as tg:
                for k in range(50):
                    tg.create_task(_publish_all(bridge, events[k::50]), name=f"bench-producer-{k}")

        conc_s, conc_count = await _with_subscriber(mqtt, topic, n, fifty_producers)
    print(f"QoS 1 events ({n:,}; durable on disk before publish_event returns)")
    row(
        "baseline bare aiomqtt QoS 1 publish, awaited",
        base_count.count / base_s,
        "msg/s",
        lower=False,
    )
    row(
        "bridge via durable outbox, 1 producer",
        ours_count.count / ours_s,
        "msg/s",
        base_count.count / base_s,
        lower=False,
    )
    row(
        "bridge via outbox, 50 producers (group commit)",
        conc_count.count / conc_s,
        "msg/s",
        base_count.count / base_s,
        lower=False,
    )


async def _publish_all(bridge: MqttBridge, events: list[EventMessage]) -> None:
    for e in events:
        await bridge.publish_event(e)


async def synthetic_producer(
    bus: TelemetryBus, vehicles: int, rate_hz: float, seconds: float
) -> int:
    """Stand-in for the vehicle sessions: every vehicle publishes at `rate_hz`, stamped
    with the time its (imaginary) MAVLink message arrived. Returns samples published."""
    period = 1.0 / rate_hz
    ticks = int(seconds * rate_hz)
    start = time.monotonic()
    published = 0
    for tick in range(ticks):
        now_us = time.time_ns() // 1000
        for v in range(vehicles):
            bus.publish(synthetic_sample(v, tick, now_us))
            published += 1
        await asyncio.sleep(max(0.0, start + (tick + 1) * period - time.monotonic()))
    return published


async def fleet_producer(bus: TelemetryBus, vehicles: int, rate_hz: float, seconds: float) -> int:
    """The real controller as the source: `vehicles` PX4-rate MAVLink streams (the load
    generator of bench/controller_cpu.py, in a child process) into a drone-ops `Fleet`
    whose vehicle sessions publish their TelemetrySamples on `bus`. `rate_hz` is ignored:
    the sessions decide their sample rate (`LinkConfig.sample_interval_s`)."""
    import logging

    from drone_ops.audit import MemoryAuditLog
    from drone_ops.fleet import Fleet

    logging.getLogger("drone_ops").setLevel(logging.WARNING)
    ports = _free_udp_ports(vehicles)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("controller_cpu.py")),
        "--child",
        "px4rate",
        json.dumps(ports),
        stdin=asyncio.subprocess.PIPE,
    )
    before = bus.published
    try:
        async with Fleet(audit=MemoryAuditLog(), sample_bus=bus) as fleet:
            for i, port in enumerate(ports):
                await fleet.add_vehicle(f"v{i}", f"udpin://127.0.0.1:{port}")
            await asyncio.sleep(seconds)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        await child.wait()
    return bus.published - before


def _free_udp_ports(count: int) -> list[int]:
    import socket

    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


async def latency_subscriber(url: str, topic: str) -> None:
    """Child process: the "other system" on the broker. Records receive time minus the
    sample's time for every message until its stdin closes, then prints them as JSON."""
    mqtt = MqttConfig.from_url(url)
    latencies: list[int] = []
    async with connect(mqtt, identifier=f"bench-lat-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(topic, qos=0)
        print("ready", flush=True)

        async def collect() -> None:
            async for message in client.messages:
                now_us = time.time_ns() // 1000
                latencies.append(now_us - json.loads(message.payload)["time_unix_us"])  # type: ignore[arg-type]

        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(collect(), name="collect")
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            task.cancel()
    print(json.dumps(latencies), flush=True)


async def latency(
    mqtt: MqttConfig,
    vehicles: int,
    rate_hz: float,
    seconds: float,
    outbox_dir: Path,
    producer: Producer = synthetic_producer,
    mqtt_rate_hz: float = 1e6,
) -> None:
    """Latency from a sample's `time_unix_us` to a subscriber in another process, with
    the bridge decimating each vehicle to `mqtt_rate_hz` (default: forward everything)."""
    fleet = f"bench-{uuid.uuid4().hex[:8]}"
    cfg = BridgeConfig(
        fleet=fleet,
        controller_id="bench",
        outbox_path=outbox_dir / f"lat-{fleet}.sqlite",
        telemetry_rate_hz=mqtt_rate_hz,
    )
    sub = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--latency-subscriber",
        f"mqtt://{mqtt.host}:{mqtt.port}",
        f"drone-ops/{fleet}/+/telemetry",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert sub.stdin is not None
    assert sub.stdout is not None
    assert await sub.stdout.readline() == b"ready\n"
    async with TelemetryBus() as bus, MqttBridge(mqtt, cfg, bus) as bridge:
        await bridge.wait_connected()
        published = await producer(bus, vehicles, rate_hz, seconds)
        await asyncio.sleep(1.0)  # let the tail arrive; the counts are reported below
        stats = bridge.stats()
    sub.stdin.close()
    lat = sorted(json.loads(await sub.stdout.read()))
    await sub.wait()
    name = getattr(producer, "__name__", "producer")
    if not lat:
        print(f"latency ({name}): nothing arrived")
        return
    p50 = statistics.median(lat) / 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000
    print(
        f"latency sample time → MQTT subscriber process ({name}, {vehicles} vehicles, "
        f"bridge at {'every sample' if mqtt_rate_hz >= 1e6 else f'{mqtt_rate_hz:g} Hz/vehicle'}, "
        f"{seconds:g} s; published {published:,}, received {len(lat):,}, "
        f"dropped {stats.telemetry_dropped:,})"
    )
    row("p50", p50, "ms", lower=True)
    row("p99 (goal for the whole path: < 50 ms)", p99, "ms", lower=True)
    row("max", lat[-1] / 1000, "ms", lower=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--vehicles", type=int, default=50)
    parser.add_argument("--rate-hz", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--source",
        choices=("synthetic", "fleet", "both"),
        default="both",
        help="latency source: synthetic samples, or the controller's Fleet fed PX4-rate MAVLink",
    )
    parser.add_argument(
        "--mqtt-rate-hz",
        type=float,
        default=5.0,
        help="bridge decimation for the second latency run (the first forwards every sample)",
    )
    parser.add_argument("--latency-subscriber", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency_subscriber:
        await latency_subscriber(*args.latency_subscriber)
        return
    mqtt = MqttConfig.from_url(args.broker)
    await bench_bus(max(args.samples, 100_000))
    bench_codec(args.samples)
    with tempfile.TemporaryDirectory() as tmp:
        await bench_mqtt_throughput(mqtt, args.samples, Path(tmp))
        await bench_events(mqtt, args.events, Path(tmp))
        for mqtt_rate in (1e6, args.mqtt_rate_hz):
            if args.source in ("synthetic", "both"):
                await latency(
                    mqtt, args.vehicles, args.rate_hz, args.seconds, Path(tmp),
                    synthetic_producer, mqtt_rate,
                )  # fmt: skip
            if args.source in ("fleet", "both"):
                await latency(
                    mqtt, args.vehicles, args.rate_hz, args.seconds, Path(tmp),
                    fleet_producer, mqtt_rate,
                )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
