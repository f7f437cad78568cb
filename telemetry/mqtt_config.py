"""How to reach the broker: address, credentials and TLS as one typed value.

Changing brokers, adding a password or switching on TLS is configuration
(`MqttConfig.from_url("mqtts://user:pw@broker:8883", tls=TlsConfig(...))`),
never a code change.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from telemetry.errors import MqttConfigError

__all__ = ["MqttConfig", "TlsConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsConfig:
    """TLS to the broker. No CA file means the system's trusted CAs."""

    ca_file: Path | None = None
    cert_file: Path | None = None  # client certificate (mutual TLS)
    key_file: Path | None = None
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise MqttConfigError(
                "TLS client certificate and key go together; give both or neither"
            )

    def ssl_context(self) -> ssl.SSLContext:
        """Build the context, naming the file that cannot be used."""
        try:
            ctx = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise MqttConfigError(
                f"cannot use the CA file {self.ca_file}: {_reason(exc)}; check the path"
            ) from exc
        if self.cert_file is not None:
            try:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
            except (OSError, ssl.SSLError) as exc:
                raise MqttConfigError(
                    f"cannot use the client certificate {self.cert_file} with key "
                    f"{self.key_file}: {_reason(exc)}; check both paths and that they match"
                ) from exc
        ctx.check_hostname = self.check_hostname
        return ctx


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttConfig:
    """A broker connection; timeouts are in seconds."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsConfig | None = None
    keepalive_s: int = 30
    connect_timeout_s: float = 5.0
    ack_timeout_s: float = 10.0  # PUBACK for a QoS 1 message

    def __post_init__(self) -> None:
        if not self.host:
            raise MqttConfigError("MQTT broker host is empty; give e.g. mqtt://127.0.0.1:1883")
        if not 0 < self.port < 65536:
            raise MqttConfigError(f"MQTT broker port {self.port} is not a TCP port (1-65535)")
        if self.password is not None and self.username is None:
            raise MqttConfigError("an MQTT password needs a username too")
        if self.keepalive_s < 1 or self.connect_timeout_s <= 0 or self.ack_timeout_s <= 0:
            raise MqttConfigError("MQTT keepalive and timeouts must be positive")

    @property
    def address(self) -> str:
        scheme = "mqtts" if self.tls is not None else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, *, tls: TlsConfig | None = None) -> MqttConfig:
        """Parse ``mqtt://[user[:password]@]host[:port]`` (``mqtts://`` turns on TLS)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise MqttConfigError(f"broker URL {url!r} is not valid: {exc}") from exc
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise MqttConfigError(
                f"broker URL {url!r} must start with mqtt:// or mqtts://, e.g. mqtt://127.0.0.1:1883"
            )
        secure = parts.scheme in ("mqtts", "ssl")
        if secure and tls is None:
            tls = TlsConfig()
        if not parts.hostname:
            raise MqttConfigError(f"broker URL {url!r} has no host, e.g. mqtt://127.0.0.1:1883")
        return cls(
            host=parts.hostname,
            port=port if port is not None else (8883 if tls is not None else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=tls,
        )


def _reason(exc: OSError | ssl.SSLError) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
