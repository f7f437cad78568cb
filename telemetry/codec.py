"""Wire codec for `TelemetrySample` and `EventMessage`: compact JSON.

Field names on the wire are the dataclass field names, so they are stable and
self-describing for other systems subscribing over MQTT. Values the vehicle has
not reported (None) are left out to keep messages small. JSON has no NaN or
infinity, so non-finite floats are sent as absent ("unknown").

Decoding is tolerant of fields it does not know (a newer producer may add
some) and strict about types: a wrong type raises `DecodeError` naming the
field, instead of letting a string reach the store as a latitude.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Final, TypeAlias, get_type_hints

from telemetry.errors import DecodeError
from telemetry.sample import TelemetrySample

__all__ = [
    "EventMessage",
    "JsonValue",
    "decode_event",
    "decode_sample",
    "encode_event",
    "encode_sample",
    "sample_to_dict",
]

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None

_MAX_MESSAGE_BYTES: Final = 1 << 20  # a sample is ~400 bytes; refuse absurd input early


@dataclass(frozen=True, slots=True, kw_only=True)
class EventMessage:
    """A typed envelope for things that happen (not periodic state).

    Used on ``drone-ops/<fleet>/<vehicle>/events`` (armed, mode changed,
    failsafe, sortie started…) and ``drone-ops/<fleet>/incidents`` (incident
    opened, acknowledged, resolved). ``event_id`` lets consumers drop the
    duplicates that MQTT QoS 1 (at least once) may deliver.
    """

    kind: str
    vehicle_id: str | None
    time_unix_us: int
    body: Mapping[str, JsonValue] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise DecodeError("event kind must be a non-empty string, e.g. 'armed'")
        if self.vehicle_id is not None and not isinstance(self.vehicle_id, str):
            raise DecodeError("event vehicle_id must be a string or null")
        if not _is_int(self.time_unix_us) or self.time_unix_us < 0:
            raise DecodeError("event time_unix_us must be a non-negative integer")
        if not isinstance(self.body, Mapping):
            raise DecodeError("event body must be a JSON object")
        if not isinstance(self.event_id, str) or not self.event_id:
            raise DecodeError("event event_id must be a non-empty string")


# ---------------------------------------------------------------- samples

# Per field: (name, checker) where the checker returns the decoded value or raises.
_Checker = Callable[[str, object], object]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_str(name: str, value: object) -> object:
    if isinstance(value, str):
        return value
    raise DecodeError(f"telemetry field '{name}' must be a string, got {_kind(value)}")


def _check_int(name: str, value: object) -> object:
    if _is_int(value):
        return value
    raise DecodeError(f"telemetry field '{name}' must be an integer, got {_kind(value)}")


def _check_float(name: str, value: object) -> object:
    if isinstance(value, float):
        return value
    if _is_int(value):
        return float(value)  # type: ignore[arg-type]  # _is_int narrowed it
    raise DecodeError(f"telemetry field '{name}' must be a number, got {_kind(value)}")


def _check_bool(name: str, value: object) -> object:
    if isinstance(value, bool):
        return value
    raise DecodeError(f"telemetry field '{name}' must be true or false, got {_kind(value)}")


def _optional(check: _Checker) -> _Checker:
    def checker(name: str, value: object) -> object:
        return None if value is None else check(name, value)

    return checker


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}.get(
        type(value), f"a {type(value).__name__}"
    )


_BASE_CHECKERS: Final[dict[object, _Checker]] = {
    str: _check_str,
    int: _check_int,
    float: _check_float,
    bool: _check_bool,
    str | None: _optional(_check_str),
    int | None: _optional(_check_int),
    float | None: _optional(_check_float),
    bool | None: _optional(_check_bool),
}


def _build_schema() -> tuple[tuple[str, _Checker, bool], ...]:
    hints = get_type_hints(TelemetrySample)
    schema = []
    for f in fields(TelemetrySample):
        checker = _BASE_CHECKERS.get(hints[f.name])
        if checker is None:  # pragma: no cover - caught by the codec tests at once
            raise TypeError(f"no wire type for TelemetrySample.{f.name}: {hints[f.name]}")
        required = f.default is MISSING and f.default_factory is MISSING
        schema.append((f.name, checker, required))
    return tuple(schema)


_SCHEMA: Final = _build_schema()
_FIELD_NAMES: Final = tuple(name for name, _, _ in _SCHEMA)
_FLOAT_FIELDS: Final = frozenset(
    name for name, hint in get_type_hints(TelemetrySample).items() if hint == float | None
)


def sample_to_dict(sample: TelemetrySample) -> dict[str, JsonValue]:
    """The sample as a JSON-ready dict: None and non-finite values left out."""
    out: dict[str, JsonValue] = {}
    for name in _FIELD_NAMES:
        value = getattr(sample, name)
        if value is None:
            continue
        if name in _FLOAT_FIELDS and not math.isfinite(value):
            continue
        out[name] = value
    return out


def encode_sample(sample: TelemetrySample) -> bytes:
    """Compact UTF-8 JSON for MQTT and other text transports."""
    return json.dumps(sample_to_dict(sample), separators=(",", ":")).encode()


def decode_sample(data: bytes | str) -> TelemetrySample:
    """Parse one sample; unknown fields are ignored, wrong types raise `DecodeError`."""
    obj = _load_object(data, "telemetry sample")
    values: dict[str, Any] = {}
    for name, checker, required in _SCHEMA:
        if name in obj:
            values[name] = checker(name, obj[name])
        elif required:
            raise DecodeError(f"telemetry sample is missing the required field '{name}'")
    return TelemetrySample(**values)


# ---------------------------------------------------------------- events


def encode_event(event: EventMessage) -> bytes:
    """Compact UTF-8 JSON; raises `DecodeError` if the body is not plain JSON."""
    obj = {
        "kind": event.kind,
        "vehicle_id": event.vehicle_id,
        "time_unix_us": event.time_unix_us,
        "event_id": event.event_id,
        "body": dict(event.body),
    }
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise DecodeError(
            f"event '{event.kind}' body is not plain JSON ({exc}); "
            "use strings, numbers, booleans, lists and objects"
        ) from exc


def decode_event(data: bytes | str) -> EventMessage:
    """Parse one event envelope; unknown top-level fields are ignored."""
    obj = _load_object(data, "event")
    for name in ("kind", "time_unix_us", "event_id"):
        if name not in obj:
            raise DecodeError(f"event is missing the required field '{name}'")
    body = obj.get("body", {})
    if not isinstance(body, dict):
        raise DecodeError(f"event field 'body' must be an object, got {_kind(body)}")
    return EventMessage(
        kind=obj["kind"],
        vehicle_id=obj.get("vehicle_id"),
        time_unix_us=obj["time_unix_us"],
        body=body,
        event_id=obj["event_id"],
    )


def _load_object(data: bytes | str, what: str) -> dict[str, Any]:
    if len(data) > _MAX_MESSAGE_BYTES:
        raise DecodeError(f"{what} is {len(data)} bytes, larger than the 1 MiB limit")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise DecodeError(f"{what} must be a JSON object, got {_kind(obj)}")
    return obj
