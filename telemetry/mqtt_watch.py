"""Follow a fleet on the broker as readable lines (what `drone-ops watch` prints).

A message that does not decode is shown as such, never dropped silently and
never a crash: the watcher is a diagnostic tool and must survive bad input.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import aiomqtt

from telemetry.codec import decode_event, decode_sample
from telemetry.errors import BrokerUnreachableError, DecodeError
from telemetry.mqtt_client import connect
from telemetry.mqtt_config import MqttConfig
from telemetry.sample import TelemetrySample
from telemetry.topics import ROOT, Channel, parse_topic, validate_name

__all__ = ["format_message", "format_sample", "watch", "watch_topic"]


def watch_topic(fleet: str | None = None, vehicle_id: str | None = None) -> str:
    """The subscription for a fleet and/or vehicle (all of either when None)."""
    f = validate_name("fleet name", fleet) if fleet is not None else "+"
    if vehicle_id is None:
        return f"{ROOT}/{f}/#" if fleet is not None else f"{ROOT}/#"
    return f"{ROOT}/{f}/{validate_name('vehicle id', vehicle_id)}/#"


def _clock(time_unix_us: int | None) -> str:
    when = (
        datetime.now(UTC)
        if time_unix_us is None
        else datetime.fromtimestamp(time_unix_us / 1e6, UTC)
    )
    return when.strftime("%H:%M:%S.%f")[:-3]


def _num(value: float | None, fmt: str, unit: str = "") -> str | None:
    return None if value is None else f"{value:{fmt}}{unit}"


def format_sample(sample: TelemetrySample) -> str:
    """One line with what an operator looks at first; unknown values are left out."""
    parts: list[str | None] = []
    if sample.lat_deg is not None and sample.lon_deg is not None:
        parts.append(f"{sample.lat_deg:.6f},{sample.lon_deg:.6f}")
    parts.append(_num(sample.rel_alt_m, ".1f", " m"))
    parts.append(_num(sample.heading_deg, ".0f", "°"))
    if sample.vn_m_s is not None and sample.ve_m_s is not None:
        parts.append(f"{(sample.vn_m_s**2 + sample.ve_m_s**2) ** 0.5:.1f} m/s")
    parts.append(sample.mode)
    parts.append("armed" if sample.armed else "disarmed")
    parts.append(sample.landed_state)
    if sample.battery_pct is not None:
        volts = f" {sample.battery_v:.1f} V" if sample.battery_v is not None else ""
        parts.append(f"bat {sample.battery_pct:.0f}%{volts}")
    if sample.gps_fix is not None:
        sats = f"/{sample.satellites}" if sample.satellites is not None else ""
        parts.append(f"gps {sample.gps_fix}{sats}")
    if sample.mission_seq is not None:
        total = f"/{sample.mission_total}" if sample.mission_total is not None else ""
        parts.append(f"wp {sample.mission_seq}{total}")
    return "  ".join(p for p in parts if p)


def format_message(topic: str, payload: bytes, *, retained: bool = False) -> str:
    """One readable line for one broker message of ours (or any other, verbatim).

    Control characters from the wire (a newline in a topic, a presence payload or
    an event kind) are shown escaped, so a publisher cannot forge extra lines."""
    line = _format_message(topic, payload, retained=retained)
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


def _format_message(topic: str, payload: bytes, *, retained: bool) -> str:
    mark = " (retained)" if retained else ""
    parsed = parse_topic(topic)
    try:
        if parsed is None:
            return f"{_clock(None)}  {topic}{mark}  {payload[:200]!r}"
        if parsed.channel in (Channel.TELEMETRY, Channel.STATE):
            sample = decode_sample(payload)
            return (
                f"{_clock(sample.time_unix_us)}  {parsed.fleet}/{parsed.vehicle_id}  "
                f"{parsed.channel.value}{mark}  {format_sample(sample)}"
            )
        if parsed.channel is Channel.PRESENCE:
            status = payload.decode(errors="replace")
            return (
                f"{_clock(None)}  {parsed.fleet}  controller {parsed.controller_id}{mark}  {status}"
            )
        event = decode_event(payload)
        body = json.dumps(dict(event.body), separators=(",", ":"), ensure_ascii=False)
        if parsed.channel is Channel.EVENTS:
            return (
                f"{_clock(event.time_unix_us)}  {parsed.fleet}/{parsed.vehicle_id}  "
                f"event{mark}  {event.kind}  {body}"
            )
        vehicle = f"  {event.vehicle_id}" if event.vehicle_id is not None else ""
        return (
            f"{_clock(event.time_unix_us)}  {parsed.fleet}  "
            f"incident{mark}  {event.kind}{vehicle}  {body}"
        )
    except DecodeError as exc:
        return f"{_clock(None)}  {topic}{mark}  (undecodable: {exc})"


async def watch(
    config: MqttConfig,
    *,
    fleet: str | None = None,
    vehicle_id: str | None = None,
) -> AsyncGenerator[str, None]:
    """Yield one line per message until cancelled; raise `BrokerUnreachableError` if
    the broker cannot be reached or the connection is lost."""
    topic = watch_topic(fleet, vehicle_id)
    async with connect(config) as client:
        try:
            await client.subscribe(topic, qos=1)
            async for message in client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload).encode()
                yield format_message(message.topic.value, data, retained=message.retain)
        except aiomqtt.MqttError as exc:
            raise BrokerUnreachableError(
                f"lost the connection to the MQTT broker at {config.address}: {exc}; "
                "run the command again when the broker is back"
            ) from exc
