"""`drone-ops serve` through the locked-down broker (deploy/mosquitto), as users run it.

The broker is the shipped configuration started by `test_broker_acl`'s fixture
(private CA, password file, ACL, a free port). `serve` runs as a real process
with a simulated vehicle (`--sim 1`): logged in as `controller-1` over TLS it
publishes the vehicle's telemetry, which the viewer reads; logged in as the
viewer, or with a wrong password, the broker refuses it - and it must say so
in one log line, keep running (its outbox keeps events) and stop cleanly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from drone_ops.service import MQTT_PASSWORD_ENV, ServiceConfig, ServiceError, load_service_config
from telemetry import MqttConfig
from tests.security.test_broker_acl import (  # the module-scoped broker fixture, too
    CONTROLLER_PW,
    FLEET,
    VIEWER_PW,
    Broker,
    V5Client,
    broker,  # noqa: F401
    v5,  # noqa: F401
)
from tests.serve_process import log_lines, start_serve
from tests.waits import until

SPEEDUP = 10.0


@asynccontextmanager
async def serve(
    tmp_path: Path, *args: str, password: str | None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """`drone-ops serve --sim 1` in `tmp_path`, its log in a file; SIGTERM on leaving."""
    env = {k: v for k, v in os.environ.items() if k != MQTT_PASSWORD_ENV}
    if password is not None:
        env[MQTT_PASSWORD_ENV] = password
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        proc = await start_serve(
            "--sim", "1", "--speedup", str(SPEEDUP),
            "--store", f"sqlite:///{tmp_path / 'ops.db'}", "--metrics-port", "-1", *args,
            cwd=tmp_path, env=env, stderr=log_file,
        )  # fmt: skip
    try:
        yield proc, log_path
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def assert_clean_log(log_path: Path) -> list[dict[str, Any]]:
    logs = log_lines(log_path)
    raw = [r["raw"] for r in logs if "raw" in r]
    assert raw == [], "every stderr line is a JSON log record (no traceback)"
    assert not any("exc" in r for r in logs), [r for r in logs if "exc" in r]
    return logs


async def test_serve_as_controller_publishes_over_tls_and_the_viewer_reads_it(
    broker: Broker,  # noqa: F811
    tmp_path: Path,
    v5: dict[str, V5Client],  # noqa: F811
) -> None:
    viewer = v5["viewer"] = await asyncio.to_thread(V5Client, broker, "viewer", VIEWER_PW)
    await asyncio.to_thread(viewer.subscribe, f"drone-ops/{FLEET}/#")
    # The TOML form: TLS files beside the config file, the user there, the password
    # from the environment only.
    (tmp_path / "ca.crt").write_bytes((broker.secrets / "ca.crt").read_bytes())
    cfg = tmp_path / "serve.toml"
    cfg.write_text(
        '[service]\ncontroller_id = "tls-a"\n'
        f'mqtt = "mqtts://127.0.0.1:{broker.port}"\nfleet = "{FLEET}"\n'
        'mqtt_ca_file = "ca.crt"\nmqtt_username = "controller-1"\n'
    )
    presence = f"drone-ops/{FLEET}/controllers/tls-a"

    def live(topic: str) -> list[bytes]:
        return [bytes(m.payload) for m in list(viewer.messages) if m.topic == topic]

    async with serve(tmp_path, "--config", str(cfg), password=CONTROLLER_PW) as (proc, log):
        await until(
            lambda: b"online" in live(presence), 60, f"'online' on {presence}; {log_lines(log)}"
        )
        await until(
            lambda: (
                live(f"drone-ops/{FLEET}/sim1/telemetry") and live(f"drone-ops/{FLEET}/sim1/state")
            ),
            60,
            f"sim1's telemetry and state; serve said {log_lines(log)[-10:]}",
        )
        assert proc.returncode is None
    assert proc.returncode == 0, log_lines(log)[-10:]
    # Exit code 0 says it left cleanly; the viewer was told it is gone.
    await until(lambda: live(presence)[-1:] == [b"offline"], 60, "'offline' on the presence topic")
    logs = assert_clean_log(log)
    assert not [r for r in logs if r["level"] in ("warning", "error")], logs
    bridge = [r["msg"] for r in logs if r["msg"].startswith("telemetry bridge to")]
    assert bridge == [f"telemetry bridge to mqtts://127.0.0.1:{broker.port} as controller-1 "
                      f"(fleet {FLEET})"]  # fmt: skip
    assert CONTROLLER_PW not in log.read_text()


@pytest.mark.parametrize(
    ("user", "password", "refused"),
    [
        ("viewer", VIEWER_PW, "refused this controller's messages as 'viewer'"),
        ("controller-1", "wrong", "refused the login as 'controller-1'"),
    ],
    ids=["viewer-may-not-publish", "wrong-password"],
)
async def test_serve_refused_by_the_broker_says_so_once_and_stops_cleanly(
    broker: Broker,  # noqa: F811
    tmp_path: Path,
    v5: dict[str, V5Client],  # noqa: F811
    user: str,
    password: str,
    refused: str,
) -> None:
    watcher = v5["watcher"] = await asyncio.to_thread(V5Client, broker, "viewer", VIEWER_PW)
    await asyncio.to_thread(watcher.subscribe, "drone-ops/#")
    me = f"refused-{user}"
    args = (
        "--mqtt", f"mqtts://127.0.0.1:{broker.port}", "--mqtt-ca-file",
        str(broker.secrets / "ca.crt"), "--mqtt-username", user, "--controller-id", me,
    )  # fmt: skip

    since = len(broker.log)

    def attempts(broker: Broker) -> list[str]:
        """The broker's word for each time it sent this serve away (a refused login
        has no client id yet, and no other client logs in wrongly meanwhile)."""
        return [
            x
            for x in list(broker.log)[since:]
            if f"drone-ops-default-{me} disconnected" in x
            or "<unknown> disconnected, not auth" in x
        ]

    def refusals(log: Path) -> list[str]:
        return [r["msg"] for r in log_lines(log) if "MQTT broker" in r.get("msg", "")]

    async with serve(tmp_path, *args, password=password) as (proc, log):
        await until(
            lambda: refusals(log), 60, f"the refusal in the log; serve said {log_lines(log)}"
        )
        # The vehicle is up, so telemetry would be flowing if the broker took it.
        await until(
            lambda: any(r.get("msg") == "vehicle sim1 ready" for r in log_lines(log)),
            60,
            f"sim1 connected; serve said {log_lines(log)[-10:]}",
        )
        # The broker has refused it more than once (the bridge retries): still one line.
        await until(lambda: len(attempts(broker)) >= 2, 60, f"two refusals in {broker.log[-5:]}")
        await asyncio.to_thread(watcher.subscribe, "drone-ops/x")  # a round trip
        assert proc.returncode is None, "a refused login is not fatal: the outbox waits"
    assert proc.returncode == 0, log_lines(log)[-10:]
    assert_clean_log(log)
    (line,) = refusals(log)
    assert line.startswith(f"MQTT broker mqtts://127.0.0.1:{broker.port} {refused}: ")
    assert line.endswith("events wait in the outbox, retrying")
    assert "Not authorized" in line
    assert password not in log.read_text()
    # Nothing of this controller reached the broker: no presence, no telemetry.
    assert not [m.topic for m in watcher.messages if me in m.topic or not m.retain]


def test_a_password_key_is_refused_and_the_environment_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "serve.toml"
    cfg.write_text('[service]\nmqtt = "mqtts://broker"\nmqtt_password = "hunter2"\n')
    with pytest.raises(ServiceError, match=f"not read from a file; set \\${MQTT_PASSWORD_ENV}"):
        load_service_config(cfg)
    # An old-style URL password still works (serve warns at start); the variable wins.
    cfg.write_text('[service]\nmqtt = "mqtts://ops:hunter2@broker"\n')
    old = load_service_config(cfg)
    assert "hunter2" not in repr(old)
    assert old.broker() == MqttConfig.from_url("mqtts://ops:hunter2@broker")
    env = dataclasses.replace(old, mqtt_password="from-env").broker()
    assert env is not None
    assert (env.username, env.password) == ("ops", "from-env")
    with pytest.raises(ServiceError, match="no MQTT user"):
        ServiceConfig(mqtt="mqtts://broker", mqtt_password="pw")
    with pytest.raises(ServiceError, match="need mqtt, the broker URL"):
        ServiceConfig(mqtt_ca_file=Path("ca.crt"))


def test_tls_keys_are_read_beside_the_config_and_turn_tls_on(tmp_path: Path) -> None:
    cfg = tmp_path / "serve.toml"
    cfg.write_text(
        '[service]\nmqtt = "mqtt://broker:8883"\nmqtt_ca_file = "ca.crt"\n'
        'mqtt_cert_file = "c.crt"\nmqtt_key_file = "/abs/c.key"\nmqtt_username = "ops"\n'
    )
    broker_config = load_service_config(cfg).broker()
    assert broker_config is not None
    assert broker_config.tls is not None
    assert broker_config.tls.ca_file == tmp_path / "ca.crt"
    assert broker_config.tls.cert_file == tmp_path / "c.crt"
    assert broker_config.tls.key_file == Path("/abs/c.key")
    assert (broker_config.username, broker_config.password) == ("ops", None)
    assert broker_config.address == "mqtts://broker:8883"
    cfg.write_text('[service]\nmqtt = "mqtt://broker"\nmqtt_cert_file = "c.crt"\n')
    with pytest.raises(ServiceError, match="certificate and key go together"):
        load_service_config(cfg)


async def test_serve_with_a_missing_ca_file_is_one_line_before_starting(tmp_path: Path) -> None:
    proc = await start_serve(
        "--mqtt", "mqtts://127.0.0.1:1", "--mqtt-ca-file", str(tmp_path / "nope.crt"),
        "--metrics-port", "-1", cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 2
    assert out == b""
    (line,) = err.decode().splitlines()
    assert line.startswith(f"drone-ops serve: error: cannot use the CA file {tmp_path}/nope.crt")
    assert not (tmp_path / "var").exists(), "nothing was started"
