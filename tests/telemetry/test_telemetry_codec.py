"""The wire codec: stable names, round trips, tolerant of unknown fields, strict on types."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry import (
    DecodeError,
    EventMessage,
    TelemetrySample,
    decode_event,
    decode_sample,
    encode_event,
    encode_sample,
)

opt_float = st.none() | st.floats(allow_nan=False, allow_infinity=False)
opt_int = st.none() | st.integers(min_value=0, max_value=2**31)

samples = st.builds(
    TelemetrySample,
    vehicle_id=st.text(min_size=1, max_size=12),
    time_unix_us=st.integers(min_value=0, max_value=2**62),
    boot_time_ms=st.integers(min_value=0, max_value=2**40),
    lat_deg=opt_float,
    lon_deg=opt_float,
    rel_alt_m=opt_float,
    vd_m_s=opt_float,
    battery_pct=opt_float,
    satellites=opt_int,
    mission_seq=opt_int,
    mode=st.sampled_from(["UNKNOWN", "AUTO.MISSION", "POSCTL"]),
    armed=st.booleans(),
    landed_state=st.sampled_from(["ON_GROUND", "IN_AIR"]),
)


@given(samples)
def test_every_sample_survives_a_round_trip(sample: TelemetrySample) -> None:
    assert decode_sample(encode_sample(sample)) == sample


def test_wire_names_are_the_field_names_and_unknown_values_are_left_out() -> None:
    sample = TelemetrySample(
        vehicle_id="v1", time_unix_us=1_700_000_000_000_000, boot_time_ms=5, lat_deg=52.5
    )
    obj = json.loads(encode_sample(sample))
    assert obj == {
        "vehicle_id": "v1",
        "time_unix_us": 1_700_000_000_000_000,
        "boot_time_ms": 5,
        "lat_deg": 52.5,
        "mode": "UNKNOWN",
        "armed": False,
        "landed_state": "UNKNOWN",
    }


def test_non_finite_floats_become_unknown_because_json_has_no_nan() -> None:
    sample = TelemetrySample(vehicle_id="v", time_unix_us=1, boot_time_ms=1, battery_v=math.nan)
    data = encode_sample(sample)
    assert b"NaN" not in data
    assert decode_sample(data).battery_v is None


def test_unknown_fields_from_a_newer_producer_are_ignored() -> None:
    data = b'{"vehicle_id":"v","time_unix_us":1,"boot_time_ms":2,"wind_m_s":3.5,"lat_deg":1}'
    sample = decode_sample(data)
    assert sample.lat_deg == 1.0
    assert isinstance(sample.lat_deg, float)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got a list"),
        (b'{"vehicle_id":"v","time_unix_us":1}', "missing the required field 'boot_time_ms'"),
        (
            b'{"vehicle_id":"v","time_unix_us":1,"boot_time_ms":2,"lat_deg":"52.1"}',
            "'lat_deg' must be a number, got a string",
        ),
        (
            b'{"vehicle_id":"v","time_unix_us":true,"boot_time_ms":2}',
            "'time_unix_us' must be an integer, got a boolean",
        ),
        (
            b'{"vehicle_id":"v","time_unix_us":1,"boot_time_ms":2,"armed":1}',
            "'armed' must be true or false",
        ),
        (b'{"vehicle_id":7,"time_unix_us":1,"boot_time_ms":2}', "'vehicle_id' must be a string"),
    ],
)
def test_bad_samples_raise_one_clear_line(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_sample(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_event_round_trip_keeps_id_body_and_kind() -> None:
    event = EventMessage(
        kind="mode_changed",
        vehicle_id="v2",
        time_unix_us=10,
        body={"from": "POSCTL", "to": "AUTO.RTL", "seq": [1, 2]},
    )
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert len(event.event_id) == 32


def test_two_events_get_different_ids() -> None:
    a = EventMessage(kind="k", vehicle_id=None, time_unix_us=1)
    b = EventMessage(kind="k", vehicle_id=None, time_unix_us=1)
    assert a.event_id != b.event_id


def test_event_body_that_is_not_json_is_refused_at_encode() -> None:
    event = EventMessage(kind="k", vehicle_id="v", time_unix_us=1, body={"x": object()})  # type: ignore[dict-item]
    with pytest.raises(DecodeError, match="not plain JSON"):
        encode_event(event)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"time_unix_us":1,"event_id":"a"}', "missing the required field 'kind'"),
        (b'{"kind":"","time_unix_us":1,"event_id":"a"}', "non-empty string"),
        (b'{"kind":"k","time_unix_us":-1,"event_id":"a"}', "non-negative integer"),
        (b'{"kind":"k","time_unix_us":1,"event_id":"a","body":[]}', "'body' must be an object"),
    ],
)
def test_bad_events_raise_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_event(data)


def test_unknown_event_fields_are_ignored() -> None:
    event = decode_event(b'{"kind":"k","time_unix_us":1,"event_id":"a","x":1,"vehicle_id":"v"}')
    assert event.vehicle_id == "v"
    assert dict(event.body) == {}
