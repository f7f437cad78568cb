"""Real Mosquitto brokers for the telemetry tests, and a subscriber that records."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiomqtt

from telemetry.mqtt_client import connect
from telemetry.mqtt_config import MqttConfig

MOSQUITTO = "/usr/sbin/mosquitto"
PRIVATE_USERS = {"bridge": "bridge-secret", "watcher": "watcher-secret"}
MACHINE_BROKER = MqttConfig(host="127.0.0.1", port=1883, connect_timeout_s=5.0, ack_timeout_s=5.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateBroker:
    """A Mosquitto process of our own that a test may kill and restart on the same port."""

    def __init__(self, directory: Path, users: dict[str, str], listener_conf: str = "") -> None:
        self.port = free_port()
        self.directory = directory
        self.conf = directory / "mosquitto.conf"
        self.passwords = directory / "passwords"
        self.set_users(users)
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"{listener_conf}"
            "allow_anonymous false\n"
            f"password_file {self.passwords}\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type all\n"
            "user root\n"  # the tests run as root; keep ownership of the temp directory
        )
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []
        self._drainer: threading.Thread | None = None

    def set_users(self, users: dict[str, str]) -> None:
        """Write the password file; a running broker reads it on `reload()`."""
        self.passwords.write_text("")
        for user, password in users.items():
            subprocess.run(
                ["mosquitto_passwd", "-b", str(self.passwords), user, password], check=True
            )

    def reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def config(self, user: str, password: str) -> MqttConfig:
        return MqttConfig(
            host="127.0.0.1",
            port=self.port,
            username=user,
            password=password,
            connect_timeout_s=5.0,
            ack_timeout_s=5.0,
        )

    def start(self) -> None:
        """Start and return once Mosquitto says it is running (it logs that line)."""
        assert self.proc is None
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        stderr = self.proc.stderr
        assert stderr is not None
        for line in stderr:
            self.log.append(line)
            if " running" in line:
                # Keep draining its log so that Mosquitto never blocks on a full pipe.
                self._drainer = threading.Thread(target=self._drain, args=(stderr,), daemon=True)
                self._drainer.start()
                return
        raise RuntimeError(f"mosquitto did not start: {''.join(self.log)}")

    def _drain(self, stderr: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):  # closed when the process is reaped
            for line in stderr:
                self.log.append(line)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no last save."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self._close()

    def _close(self) -> None:
        assert self.proc is not None
        if self._drainer is not None:
            self._drainer.join()  # EOF: the process is gone
            self._drainer = None
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None


@dataclass
class Received:
    messages: list[aiomqtt.Message] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def payloads(self, topic_suffix: str = "") -> list[bytes]:
        return [
            bytes(m.payload)  # type: ignore[arg-type]
            for m in self.messages
            if m.topic.value.endswith(topic_suffix)
        ]

    async def wait_for(self, count: int, topic_suffix: str = "") -> list[bytes]:
        """Wait until at least `count` messages on topics ending with the suffix arrived."""
        while len(self.payloads(topic_suffix)) < count:
            self._changed.clear()
            await self._changed.wait()
        return self.payloads(topic_suffix)

    def add(self, message: aiomqtt.Message) -> None:
        self.messages.append(message)
        self._changed.set()


@contextlib.asynccontextmanager
async def subscriber(
    config: MqttConfig,
    *topics: str,
    received: Received | None = None,
    identifier: str | None = None,
    clean_session: bool = True,
    subscribe: bool = True,
) -> AsyncIterator[Received]:
    """Subscribe (QoS 1) and collect messages in the background until the block ends.

    The collector stops quietly if the broker goes away; `Received` keeps what came.
    """
    got = received if received is not None else Received()
    async with connect(
        config, identifier=identifier or f"test-{uuid.uuid4().hex[:8]}", clean_session=clean_session
    ) as client:
        if subscribe:
            for topic in topics:
                await client.subscribe(topic, qos=1)

        async def collect() -> None:
            with contextlib.suppress(aiomqtt.MqttError):
                async for message in client.messages:
                    got.add(message)

        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(collect(), name="test-subscriber")
            try:
                yield got
            finally:
                task.cancel()


def make_certificates(directory: Path) -> dict[str, Path]:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate,
    plus an unrelated CA (for the "wrong CA" case). Made with the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    for ca in ("ca", "other-ca"):
        run(
            "req",
            "-x509",
            *ec,
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.crt",
            "-subj",
            f"/CN=drone-ops test {ca}",
            "-days",
            "2",
        )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "san.ext"]), ("client", [])):
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            *ext,
        )
    names = ("ca.crt", "other-ca.crt", "server.crt", "server.key", "client.crt", "client.key")
    return {n: directory / n for n in names}
