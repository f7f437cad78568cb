"""MQTT topic names, in one place so that producers and `watch` agree.

drone-ops/<fleet>/<vehicle>/telemetry      decimated samples, QoS 0
drone-ops/<fleet>/<vehicle>/state          latest sample, retained
drone-ops/<fleet>/<vehicle>/events         EventMessage, QoS 1
drone-ops/<fleet>/incidents                EventMessage, QoS 1
drone-ops/<fleet>/controllers/<id>         "online" / "offline", retained (last will)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from telemetry.errors import MqttConfigError

__all__ = ["ROOT", "Channel", "ParsedTopic", "Topics", "parse_topic", "validate_name"]

ROOT: Final = "drone-ops"
_FORBIDDEN: Final = frozenset("/+#\x00")


class Channel(enum.Enum):
    TELEMETRY = "telemetry"
    STATE = "state"
    EVENTS = "events"
    INCIDENTS = "incidents"
    PRESENCE = "controllers"


def validate_name(what: str, name: str) -> str:
    """A fleet, vehicle or controller name must be one MQTT topic level."""
    if not name or _FORBIDDEN.intersection(name) or name != name.strip():
        raise MqttConfigError(
            f"{what} {name!r} cannot be used in an MQTT topic; use letters, digits, '-' or '_'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one fleet."""

    fleet: str

    def __post_init__(self) -> None:
        validate_name("fleet name", self.fleet)

    def telemetry(self, vehicle_id: str) -> str:
        return f"{ROOT}/{self.fleet}/{vehicle_id}/telemetry"

    def state(self, vehicle_id: str) -> str:
        return f"{ROOT}/{self.fleet}/{vehicle_id}/state"

    def events(self, vehicle_id: str) -> str:
        return f"{ROOT}/{self.fleet}/{vehicle_id}/events"

    def incidents(self) -> str:
        return f"{ROOT}/{self.fleet}/incidents"

    def presence(self, controller_id: str) -> str:
        return f"{ROOT}/{self.fleet}/controllers/{validate_name('controller id', controller_id)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedTopic:
    fleet: str
    channel: Channel
    vehicle_id: str | None = None  # telemetry, state, events
    controller_id: str | None = None  # presence


def parse_topic(topic: str) -> ParsedTopic | None:
    """Which fleet/vehicle/channel a topic is; None if it is not one of ours."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != ROOT:
        return None
    fleet = parts[1]
    if len(parts) == 3 and parts[2] == Channel.INCIDENTS.value:
        return ParsedTopic(fleet=fleet, channel=Channel.INCIDENTS)
    if len(parts) == 4 and parts[2] == Channel.PRESENCE.value:
        return ParsedTopic(fleet=fleet, channel=Channel.PRESENCE, controller_id=parts[3])
    if len(parts) == 4:
        try:
            channel = Channel(parts[3])
        except ValueError:
            return None
        if channel in (Channel.TELEMETRY, Channel.STATE, Channel.EVENTS):
            return ParsedTopic(fleet=fleet, channel=channel, vehicle_id=parts[2])
    return None
