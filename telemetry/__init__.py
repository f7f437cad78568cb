"""Telemetry: samples, bus, MQTT bridge, tlog recording and video ingest."""

from telemetry.bus import Bus, Policy, Subscription, SubscriptionStats, TelemetryBus
from telemetry.codec import (
    EventMessage,
    JsonValue,
    decode_event,
    decode_sample,
    encode_event,
    encode_sample,
    sample_to_dict,
)
from telemetry.errors import (
    BrokerUnreachableError,
    BusClosedError,
    DecodeError,
    MqttConfigError,
    OutboxError,
    TelemetryError,
    TlogError,
)
from telemetry.sample import TelemetrySample

__all__ = [
    "BrokerUnreachableError",
    "Bus",
    "BusClosedError",
    "DecodeError",
    "EventMessage",
    "JsonValue",
    "MqttConfigError",
    "OutboxError",
    "Policy",
    "Subscription",
    "SubscriptionStats",
    "TelemetryBus",
    "TelemetryError",
    "TelemetrySample",
    "TlogError",
    "decode_event",
    "decode_sample",
    "encode_event",
    "encode_sample",
    "sample_to_dict",
]
