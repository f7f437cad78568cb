"""Fixtures for the telemetry tests: real Mosquitto brokers.

Plain flow tests use the machine's broker (127.0.0.1:1883) with a unique fleet
name per test. Tests that kill or restart a broker get a private Mosquitto on
a free port, with a password file the test can change and reload (SIGHUP) to
decide who may connect when.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from telemetry_brokers import MACHINE_BROKER, PRIVATE_USERS, PrivateBroker, make_certificates

from telemetry.mqtt_config import MqttConfig


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    broker = PrivateBroker(directory, PRIVATE_USERS)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def machine_broker() -> MqttConfig:
    return MACHINE_BROKER


@pytest.fixture
def fleet() -> str:
    """A fleet name no other test (or test run) uses, so topics never collide."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_broker(tmp_path: Path, certificates: dict[str, Path]) -> Iterator[PrivateBroker]:
    """A private Mosquitto that speaks only TLS and wants a client certificate too."""
    directory = tmp_path / "mosquitto-tls"
    directory.mkdir()
    broker = PrivateBroker(
        directory,
        PRIVATE_USERS,
        listener_conf=(
            f"cafile {certificates['ca.crt']}\n"
            f"certfile {certificates['server.crt']}\n"
            f"keyfile {certificates['server.key']}\n"
            "require_certificate true\n"
        ),
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
