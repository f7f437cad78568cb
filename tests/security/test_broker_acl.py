"""The shipped broker configuration (deploy/mosquitto) against a real Mosquitto.

The fixture runs the shipped `make-dev-secrets.sh` (private CA, server
certificate, password file) and starts ``mosquitto -c`` with the shipped
`mosquitto.conf` and `acl`, changed only where a test must: the secrets
directory, a free port on 127.0.0.1, no persistence, and ``user root``.

Unauthorised publishes are dropped silently by Mosquitto for QoS 0; for MQTT v5
QoS 1 the PUBACK carries "Not authorized", which is asserted. "Not delivered"
is proven without waiting on time: the broker handles one connection's packets
in order, so once a later packet of the same client is acknowledged, a
forwarded copy of the earlier one would already be on its way, and a sentinel
published afterwards by an allowed client arrives after it.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from telemetry import (
    Backoff,
    BridgeConfig,
    EventMessage,
    LinkState,
    MqttBridge,
    MqttConfig,
    TelemetryBus,
    TelemetrySample,
    TlsConfig,
    decode_event,
    decode_sample,
)

DEPLOY = Path(__file__).parents[2] / "deploy" / "mosquitto"
SHIPPED_DIR = "/etc/mosquitto/drone-ops"
VIEWER_PW = "viewer-" + uuid.uuid4().hex[:8]
CONTROLLER_PW = "controller-" + uuid.uuid4().hex[:8]
OUTSIDER_PW = "outsider-" + uuid.uuid4().hex[:8]
FLEET = "demo"  # the fleet of controller-1 in the shipped ACL


@dataclass(frozen=True)
class Broker:
    port: int
    secrets: Path
    log: list[str]

    def config(self, user: str | None, password: str | None) -> MqttConfig:
        return MqttConfig(
            host="127.0.0.1",
            port=self.port,
            username=user,
            password=password,
            tls=TlsConfig(ca_file=self.secrets / "ca.crt"),
            connect_timeout_s=5.0,
            ack_timeout_s=5.0,
        )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_shipped_config_is_locked_down() -> None:
    conf = (DEPLOY / "mosquitto.conf").read_text().splitlines()
    for line in (
        "allow_anonymous false",
        f"password_file {SHIPPED_DIR}/passwords",
        f"acl_file {SHIPPED_DIR}/acl",
        f"cafile {SHIPPED_DIR}/ca.crt",
        f"certfile {SHIPPED_DIR}/server.crt",
        f"keyfile {SHIPPED_DIR}/server.key",
    ):
        assert line in conf
    listeners = [x for x in conf if x.startswith("listener ")]
    assert listeners == ["listener 8883"], "one listener, and it is the TLS one"
    assert not any(p.suffix in (".key", ".crt") or p.name == "passwords" for p in DEPLOY.iterdir())


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    secrets = tmp_path_factory.mktemp("broker") / "secrets"
    subprocess.run(
        ["sh", str(DEPLOY / "make-dev-secrets.sh"), str(secrets), "localhost"],
        check=True,
        capture_output=True,
        env={**os.environ, "VIEWER_PASSWORD": VIEWER_PW, "CONTROLLER_PASSWORD": CONTROLLER_PW},
    )
    # A user the ACL does not name: may log in, may do nothing.
    subprocess.run(
        ["mosquitto_passwd", "-b", str(secrets / "passwords"), "outsider", OUTSIDER_PW],
        check=True,
    )
    port = _free_port()
    shipped = (DEPLOY / "mosquitto.conf").read_text()
    assert shipped.count("listener 8883\n") == 1
    conf = (
        shipped.replace(SHIPPED_DIR, str(secrets))
        .replace("listener 8883\n", f"listener {port} 127.0.0.1\n")
        .replace("persistence true\n", "persistence false\n")
        .replace("persistence_location /var/lib/mosquitto/\n", "")
        + "log_type information\nuser root\n"  # tests run as root: keep the temp dir's owner
    )
    conf_path = secrets.parent / "mosquitto.conf"
    conf_path.write_text(conf)
    proc = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(conf_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    log: list[str] = []
    for line in proc.stderr:
        log.append(line)
        if " running" in line:
            break
    else:
        raise RuntimeError("mosquitto did not start: " + "".join(log))
    drainer = threading.Thread(target=lambda: log.extend(proc.stderr or ()), daemon=True)
    drainer.start()
    try:
        yield Broker(port=port, secrets=secrets, log=log)
    finally:
        proc.terminate()
        proc.wait()
        drainer.join()
        proc.stderr.close()


class V5Client:
    """A paho MQTT v5 client on its own network thread, so that PUBACK reason codes
    (which aiomqtt does not expose) can be read. Messages are recorded in the
    network thread, in arrival order, before any later acknowledgement is seen."""

    def __init__(self, broker: Broker, user: str, password: str) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self._connected = threading.Event()
        self.connect_rc: list[ReasonCode] = []
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"v5-{user}-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv5,
        )
        self.client.username_pw_set(user, password)
        ctx = ssl.create_default_context(cafile=str(broker.secrets / "ca.crt"))
        self.client.tls_set_context(ctx)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_publish_like_subscribe
        self.client.on_message = lambda _c, _u, m: self.messages.append(m)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self._connected.wait(10), "no CONNACK"
        assert not self.connect_rc[0].is_failure, str(self.connect_rc[0])

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connect_rc.append(rc)
        self._connected.set()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self._acked:
            self._acks[mid] = rc
            self._acked.notify_all()

    def _on_publish_like_subscribe(
        self, _c: object, _u: object, mid: int, rcs: list[ReasonCode], _p: object
    ) -> None:
        with self._acked:
            self._acks[mid] = rcs[0]
            self._acked.notify_all()

    def _wait(self, mid: int) -> ReasonCode:
        with self._acked:
            assert self._acked.wait_for(lambda: mid in self._acks, timeout=10), "no ack"
            return self._acks.pop(mid)

    def publish(self, topic: str, payload: bytes, qos: int) -> ReasonCode | None:
        """Publish; for QoS 1 wait for the PUBACK and return its reason code."""
        info = self.client.publish(topic, payload, qos=qos)
        return self._wait(info.mid) if qos else None

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        return self._wait(mid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def v5(broker: Broker) -> Iterator[dict[str, V5Client]]:
    clients: dict[str, V5Client] = {}
    yield clients
    for c in clients.values():
        c.close()


def sample(i: int) -> TelemetrySample:
    return TelemetrySample(
        vehicle_id="v1",
        time_unix_us=1_800_000_000_000_000 + i * 1_000_000,
        boot_time_ms=i * 1000,
        lat_deg=47.0,
        lon_deg=8.0 + i * 1e-5,
    )


async def test_controller_publishes_through_tls_and_a_viewer_reads_it_all(
    broker: Broker, tmp_path: Path, v5: dict[str, V5Client]
) -> None:
    viewer = v5["viewer"] = await asyncio.to_thread(V5Client, broker, "viewer", VIEWER_PW)
    assert not (await asyncio.to_thread(viewer.subscribe, "drone-ops/#")).is_failure
    outsider = v5["outsider"] = await asyncio.to_thread(V5Client, broker, "outsider", OUTSIDER_PW)
    sub_rc = await asyncio.to_thread(outsider.subscribe, "drone-ops/#")
    cfg = BridgeConfig(fleet=FLEET, controller_id="1", outbox_path=tmp_path / "outbox.sqlite")
    incident = EventMessage(kind="incident.raise", vehicle_id="v1", time_unix_us=1, body={"id": 7})
    event = EventMessage(kind="armed", vehicle_id="v1", time_unix_us=2)
    async with (
        TelemetryBus() as bus,
        MqttBridge(broker.config("controller-1", CONTROLLER_PW), cfg, bus) as bridge,
    ):
        async with asyncio.timeout(10):
            await bridge.wait_connected()
        bus.publish(sample(0))
        await bridge.publish_event(event)
        await bridge.publish_incident(incident)
        async with asyncio.timeout(10):
            await bridge.flush()

        def topics() -> set[str]:
            return {m.topic.split("/", 2)[2] for m in viewer.messages}

        async with asyncio.timeout(10):
            while not {"v1/telemetry", "v1/events", "incidents"} <= topics():
                await asyncio.to_thread(viewer.subscribe, "drone-ops/x")  # a round trip
    by_topic = {m.topic: bytes(m.payload) for m in viewer.messages}
    assert decode_sample(by_topic[f"drone-ops/{FLEET}/v1/telemetry"]) == sample(0)
    assert decode_event(by_topic[f"drone-ops/{FLEET}/v1/events"]) == event
    assert decode_event(by_topic[f"drone-ops/{FLEET}/incidents"]) == incident
    # Mosquitto 2.0 grants the outsider's subscription but checks read access per
    # message: after a later round trip of its own, nothing has reached it.
    assert not sub_rc.is_failure
    await asyncio.to_thread(outsider.subscribe, "drone-ops/x")
    assert outsider.messages == []


async def test_viewer_and_strangers_cannot_publish_events_or_incidents(
    broker: Broker, v5: dict[str, V5Client]
) -> None:
    watcher = v5["watcher"] = await asyncio.to_thread(V5Client, broker, "viewer", VIEWER_PW)
    await asyncio.to_thread(watcher.subscribe, "drone-ops/#")
    viewer = v5["viewer"] = await asyncio.to_thread(V5Client, broker, "viewer", VIEWER_PW)
    outsider = v5["outsider"] = await asyncio.to_thread(V5Client, broker, "outsider", OUTSIDER_PW)
    controller = v5["controller"] = await asyncio.to_thread(
        V5Client, broker, "controller-1", CONTROLLER_PW
    )
    forged = b'{"forged": true}'
    for client in (viewer, outsider):
        # QoS 0 first: dropped silently. Then QoS 1: refused in the PUBACK.
        await asyncio.to_thread(client.publish, f"drone-ops/{FLEET}/incidents", forged, 0)
        for topic in (f"drone-ops/{FLEET}/incidents", f"drone-ops/{FLEET}/v1/events"):
            rc = await asyncio.to_thread(client.publish, topic, forged, 1)
            assert rc is not None
            assert rc.is_failure, f"{topic}: {rc}"
            assert rc.getName() == "Not authorized"
    # A controller may not publish for another fleet either.
    rc = await asyncio.to_thread(controller.publish, "drone-ops/other/incidents", forged, 1)
    assert rc is not None
    assert rc.getName() == "Not authorized"
    rc = await asyncio.to_thread(controller.publish, f"drone-ops/{FLEET}/incidents", b"real", 1)
    assert rc is not None
    assert not rc.is_failure, str(rc)

    async with asyncio.timeout(10):
        while not any(m.payload == b"real" for m in watcher.messages):
            await asyncio.to_thread(watcher.subscribe, "drone-ops/x")  # a round trip
    assert [(m.topic, m.payload) for m in watcher.messages if not m.retain] == [
        (f"drone-ops/{FLEET}/incidents", b"real")
    ], "only the controller's incident was delivered"


async def _watch(broker: Broker, *args: str, password: str | None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DRONE_OPS_MQTT_PASSWORD"}
    if password is not None:
        env["DRONE_OPS_MQTT_PASSWORD"] = password
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drone_ops.cli", "watch",
        "--broker", f"mqtts://127.0.0.1:{broker.port}",
        "--ca-file", str(broker.secrets / "ca.crt"), "--count", "1", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2], env=env,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("args", "password"),
    [((), None), (("--username", "viewer"), "wrong"), (("--username", "nobody"), "x")],
    ids=["anonymous", "wrong-password", "unknown-user"],
)
async def test_watch_refused_login_is_one_clear_line(
    broker: Broker, args: tuple[str, ...], password: str | None
) -> None:
    code, out, err = await _watch(broker, *args, password=password)
    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(
        f"drone-ops watch: error: cannot connect to the MQTT broker at "
        f"mqtts://127.0.0.1:{broker.port}: "
    )
    assert "Not authorized" in line
    assert "check the address and credentials" in line


async def test_watch_as_viewer_reads_retained_state(
    broker: Broker, tmp_path: Path, v5: dict[str, V5Client]
) -> None:
    cfg = BridgeConfig(
        fleet=FLEET, controller_id="2", outbox_path=tmp_path / "outbox.sqlite", telemetry_rate_hz=0
    )
    async with (
        TelemetryBus() as bus,
        MqttBridge(broker.config("controller-2", CONTROLLER_PW), cfg, bus) as bridge,
    ):
        async with asyncio.timeout(10):
            await bridge.wait_connected()
        viewer = v5["viewer"] = await asyncio.to_thread(V5Client, broker, "viewer", VIEWER_PW)
        await asyncio.to_thread(viewer.subscribe, f"drone-ops/{FLEET}/v1/state")
        bus.publish(sample(3))
        async with asyncio.timeout(10):
            while not viewer.messages:
                await asyncio.to_thread(viewer.subscribe, "drone-ops/x")  # a round trip
    code, out, err = await _watch(
        broker, "--username", "viewer", "--vehicle", "v1", "--fleet", FLEET, password=VIEWER_PW
    )
    assert code == 0, err
    assert f"{FLEET}/v1  state (retained)" in out


async def test_a_bridge_the_acl_refuses_keeps_its_events(broker: Broker, tmp_path: Path) -> None:
    """Under MQTT 3.1.1 Mosquitto acknowledges a publish its ACL denies and drops it,
    so the outbox would delete the event as delivered. The bridge speaks v5, reads
    "Not authorized" in the PUBACK, and keeps the event for a corrected login."""
    cfg = BridgeConfig(
        fleet=FLEET,
        controller_id="as-viewer",
        outbox_path=tmp_path / "outbox.sqlite",
        backoff=Backoff(initial_s=0.05, max_s=0.2),
    )
    event = EventMessage(kind="armed", vehicle_id="v1", time_unix_us=3)
    async with MqttBridge(broker.config("viewer", VIEWER_PW), cfg) as bridge:
        await bridge.publish_event(event)
        for _ in range(3):  # refused, and again on each retry
            async with asyncio.timeout(10):
                await bridge.wait_state(LinkState.DISCONNECTED)
                await bridge.wait_state(LinkState.CONNECTING)
        stats = bridge.stats()
        # Leaving now cancels a connect attempt in flight: aiomqtt would leave its
        # socket and its housekeeping task behind if the bridge did not let it end.
    assert stats.connects == 0, "the presence message was refused: not counted as connected"
    assert stats.failed_connects >= 3
    assert (stats.outbox_depth, stats.outbox_delivered) == (1, 0)
    leaked = [t for t in asyncio.all_tasks() if "_misc_loop" in repr(t.get_coro())]
    assert leaked == []
