"""Telemetry: samples, bus, MQTT bridge, tlog recording and video ingest."""

from telemetry.errors import TelemetryError

__all__ = ["TelemetryError"]
