"""Broker configuration: URLs, credentials and TLS are data, checked up front."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import sys
from pathlib import Path

import pytest
from telemetry_brokers import PrivateBroker, Received, subscriber

from telemetry import (
    Backoff,
    BridgeConfig,
    BrokerUnreachableError,
    EventMessage,
    MqttBridge,
    MqttConfig,
    MqttConfigError,
    TelemetryError,
    TlsConfig,
    decode_event,
    parse_topic,
)
from telemetry.mqtt_client import connect
from telemetry.topics import Channel, Topics


def test_urls_give_host_port_credentials_and_tls() -> None:
    plain = MqttConfig.from_url("mqtt://ops:p%40ss@broker.example:1884")
    assert (plain.host, plain.port, plain.username, plain.password) == (
        "broker.example",
        1884,
        "ops",
        "p@ss",
    )
    assert plain.tls is None
    assert "p@ss" not in repr(plain), "passwords stay out of logs"
    secure = MqttConfig.from_url("mqtts://broker.example")
    assert secure.port == 8883
    assert secure.tls == TlsConfig()
    assert secure.address == "mqtts://broker.example:8883"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://broker", "must start with mqtt:// or mqtts://"),
        ("mqtt://:1883", "has no host"),
        ("mqtt://broker:99999", "is not valid"),
    ],
)
def test_bad_urls_say_what_to_write(url: str, message: str) -> None:
    with pytest.raises(MqttConfigError, match=message):
        MqttConfig.from_url(url)


def test_tls_files_are_checked_and_named(tmp_path: Path) -> None:
    with pytest.raises(MqttConfigError, match="give both or neither"):
        TlsConfig(cert_file=tmp_path / "c.pem")
    with pytest.raises(MqttConfigError, match=r"cannot use the CA file .*missing\.pem"):
        TlsConfig(ca_file=tmp_path / "missing.pem").ssl_context()


def test_backoff_grows_jittered_and_capped() -> None:
    delays = Backoff(initial_s=0.1, max_s=1.0, multiplier=2, jitter=0.5).delays(random.Random(7))
    got = [next(delays) for _ in range(8)]
    bases = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    for delay, base in zip(got, bases, strict=True):
        assert base * 0.5 <= delay <= base
    assert len(set(got[4:])) == 4, "capped delays still differ: that is the jitter"
    with pytest.raises(TelemetryError, match="jitter"):
        Backoff(jitter=2)


def test_topics_round_trip_through_the_parser() -> None:
    t = Topics("north")
    assert parse_topic(t.telemetry("v1")) == parse_topic("drone-ops/north/v1/telemetry")
    assert parse_topic(t.state("v1")).channel is Channel.STATE  # type: ignore[union-attr]
    assert parse_topic(t.incidents()).channel is Channel.INCIDENTS  # type: ignore[union-attr]
    presence = parse_topic(t.presence("ctl-1"))
    assert presence is not None
    assert presence.controller_id == "ctl-1"
    assert parse_topic("other/north/v1/telemetry") is None
    assert parse_topic("drone-ops/north/v1/nonsense") is None


async def test_tls_with_a_client_certificate_carries_events(
    tmp_path: Path, tls_broker: PrivateBroker, certificates: dict[str, Path], fleet: str
) -> None:
    tls = TlsConfig(
        ca_file=certificates["ca.crt"],
        cert_file=certificates["client.crt"],
        key_file=certificates["client.key"],
    )
    bridge_cfg = dataclasses.replace(tls_broker.config("bridge", "bridge-secret"), tls=tls)
    watcher_cfg = dataclasses.replace(tls_broker.config("watcher", "watcher-secret"), tls=tls)
    cfg = BridgeConfig(fleet=fleet, controller_id="c", outbox_path=tmp_path / "o.sqlite")
    event = EventMessage(kind="armed", vehicle_id="v1", time_unix_us=1)
    got = Received()
    async with (
        subscriber(watcher_cfg, f"drone-ops/{fleet}/+/events", received=got),
        MqttBridge(bridge_cfg, cfg) as bridge,
    ):
        async with asyncio.timeout(10):
            await bridge.wait_connected()
        await bridge.publish_event(event)
        async with asyncio.timeout(10):
            (payload,) = await got.wait_for(1)
    assert decode_event(payload) == event


async def test_a_broker_whose_certificate_we_do_not_trust_is_one_clear_line(
    tls_broker: PrivateBroker, certificates: dict[str, Path]
) -> None:
    # In a child process (the CLI's TLS options are under test too): paho-mqtt 2.2 leaks
    # the SSL socket of a failed handshake, which this suite's warning filter would
    # report in some unrelated test.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drone_ops.cli",
        "watch",
        "--broker",
        f"mqtts://127.0.0.1:{tls_broker.port}",
        "--ca-file",
        str(certificates["other-ca.crt"]),
        "--cert",
        str(certificates["client.crt"]),
        "--key",
        str(certificates["client.key"]),
        "--username",
        "watcher",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "DRONE_OPS_MQTT_PASSWORD": "watcher-secret"},
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 2
    assert out == b""
    lines = err.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"drone-ops watch: error: cannot connect to the MQTT broker at mqtts://127.0.0.1:{tls_broker.port}"
    )
    assert "certificate verify failed" in lines[0]


async def test_plain_mqtt_to_a_tls_listener_is_refused(tls_broker: PrivateBroker) -> None:
    plain = dataclasses.replace(tls_broker.config("watcher", "watcher-secret"), connect_timeout_s=1)
    with pytest.raises(BrokerUnreachableError, match="cannot connect to the MQTT broker"):
        async with connect(plain):
            pass


async def test_wrong_password_is_refused_clearly(
    tls_broker: PrivateBroker, certificates: dict[str, Path]
) -> None:
    tls = TlsConfig(
        ca_file=certificates["ca.crt"],
        cert_file=certificates["client.crt"],
        key_file=certificates["client.key"],
    )
    wrong = dataclasses.replace(tls_broker.config("watcher", "not-the-password"), tls=tls)
    with pytest.raises(BrokerUnreachableError, match="Not authorized"):
        async with connect(wrong):
            pass


def test_a_bridge_with_unusable_tls_files_fails_at_once_not_on_every_retry(
    tmp_path: Path,
) -> None:
    mqtt = MqttConfig(host="127.0.0.1", tls=TlsConfig(ca_file=tmp_path / "nope.pem"))
    cfg = BridgeConfig(fleet="f", controller_id="c", outbox_path=tmp_path / "o.sqlite")
    with pytest.raises(MqttConfigError, match=r"nope\.pem"):
        MqttBridge(mqtt, cfg)
