"""Telemetry: samples, bus, MQTT bridge, tlog recording and video ingest."""

from telemetry.backoff import Backoff
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
from telemetry.mqtt_bridge import BridgeConfig, BridgeStats, LinkState, MqttBridge
from telemetry.mqtt_config import MqttConfig, TlsConfig
from telemetry.mqtt_watch import format_message, format_sample, watch, watch_topic
from telemetry.outbox import Outbox, OutboxMessage
from telemetry.sample import TelemetrySample
from telemetry.tlog import TlogFrame, TlogRecorder, TlogWriter, read_tlog, slice_tlog
from telemetry.topics import Channel, ParsedTopic, Topics, parse_topic

__all__ = [
    "Backoff",
    "BridgeConfig",
    "BridgeStats",
    "BrokerUnreachableError",
    "Bus",
    "BusClosedError",
    "Channel",
    "DecodeError",
    "EventMessage",
    "JsonValue",
    "LinkState",
    "MqttBridge",
    "MqttConfig",
    "MqttConfigError",
    "Outbox",
    "OutboxError",
    "OutboxMessage",
    "ParsedTopic",
    "Policy",
    "Subscription",
    "SubscriptionStats",
    "TelemetryBus",
    "TelemetryError",
    "TelemetrySample",
    "TlogError",
    "TlogFrame",
    "TlogRecorder",
    "TlogWriter",
    "TlsConfig",
    "Topics",
    "decode_event",
    "decode_sample",
    "encode_event",
    "encode_sample",
    "format_message",
    "format_sample",
    "parse_topic",
    "read_tlog",
    "sample_to_dict",
    "slice_tlog",
    "watch",
    "watch_topic",
]
