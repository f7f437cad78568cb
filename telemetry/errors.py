"""Telemetry errors. Messages say what is wrong and what to do.

One small hierarchy: callers catch `TelemetryError`; the CLI prints its message
as one line. Foreign exceptions (json, sqlite3, aiomqtt, OSError) are
translated at the boundary with ``raise … from exc``.
"""

from __future__ import annotations

__all__ = [
    "BrokerUnreachableError",
    "BusClosedError",
    "DecodeError",
    "MqttConfigError",
    "OutboxError",
    "TelemetryError",
    "TlogError",
]


class TelemetryError(Exception):
    """Base for every telemetry error reported to a user."""


class DecodeError(TelemetryError):
    """A message on the wire is not a valid sample or event."""


class BusClosedError(TelemetryError):
    """The bus or subscription was closed; nothing more will arrive."""


class MqttConfigError(TelemetryError):
    """The broker address, credentials or TLS files are not usable."""


class BrokerUnreachableError(TelemetryError):
    """The MQTT broker could not be reached or refused the connection."""


class OutboxError(TelemetryError):
    """The durable outbox file cannot be opened or written."""


class TlogError(TelemetryError):
    """A .tlog file cannot be written, read or sliced."""
