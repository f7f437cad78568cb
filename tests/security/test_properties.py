"""Property tests: input from outside is refused with our own error, never a crash.

Each parser at a trust boundary gets random input and malformed variants of a
valid document (one value anywhere swapped for a random one, lines cut or
shuffled). What must hold: the parser returns a value or raises the package's
own error (`MissionsError`, `TelemetryError`, `DroneOpsError`) whose message is
one line. A `KeyError`, `TypeError`, `IndexError`… escaping would be a
traceback in the CLI or a dead MQTT handler in the service.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import common as mavlink

from drone_ops.config import load_config
from drone_ops.errors import DroneOpsError
from drone_ops.service import load_service_config
from missions import MissionsError
from missions.formats import (
    areas_from_geojson,
    areas_from_kml,
    load_areas,
    load_plan,
    plan_from_qgc,
    waypoints_to_plan,
)
from sitl import SimConfig, SimFleet, free_vehicle_ports
from sitl.modes import FlightMode
from telemetry.codec import decode_event, decode_sample
from telemetry.errors import TelemetryError
from telemetry.mqtt_watch import format_message

DATA = Path(__file__).parent.parent / "missions" / "data"
# Derandomized: CI runs the same examples every time (no flaky red build from a new
# random draw); to hunt for new bugs, run locally with derandomize=False.
SETTINGS = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON tree (the root included)."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(obj)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@st.composite
def mutated_json(draw: st.DrawFn, doc: Any) -> Any:
    """A valid document with one to three values swapped for random ones (or removed)."""
    out = doc
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(out)
        path = draw(st.sampled_from(paths))
        if path and draw(st.booleans()) and isinstance(out, dict | list):
            parent = out
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict | list) and draw(st.booleans()):
                out = copy.deepcopy(out)
                parent = out
                for key in path[:-1]:
                    parent = parent[key]
                del parent[path[-1]]
                continue
        out = _replace(out, path, draw(json_values))
    return out


@st.composite
def mutated_lines(draw: st.DrawFn, text: str) -> str:
    """A valid text file with lines cut, duplicated, dropped or fields swapped."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["cut", "dup", "drop", "field", "junk"]))
        if op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "drop":
            del lines[i]
        elif op == "field":
            fields = lines[i].split()
            if fields:
                j = draw(st.integers(0, len(fields) - 1))
                fields[j] = draw(
                    st.one_of(
                        st.sampled_from(["nan", "inf", "-inf", "1e400", "-1", "", "x", "0x10"]),
                        st.text(max_size=8).filter(lambda s: "\n" not in s and "\r" not in s),
                        st.integers(-(2**40), 2**40).map(str),
                    )
                )
                lines[i] = "\t".join(fields)
        else:
            lines[i] = draw(st.text(max_size=40))
    return "\n".join(lines)


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text, f"{type(exc).__name__} has no message"
    assert "\n" not in text.strip(), f"message is not one line: {text!r}"


# ------------------------------------------------------------- plan parsers

QGC_DOC = json.loads((DATA / "qgc_survey.plan").read_text())
GEOJSON_DOC = json.loads((DATA / "depot.geojson").read_text())
WAYPOINTS_TEXT = (DATA / "mission_planner.waypoints").read_text()
KML_TEXT = (DATA / "park.kml").read_text()


def _parses_or_missions_error(fn: Any, arg: Any) -> None:
    try:
        fn(arg)
    except MissionsError as exc:
        _one_line(exc)


def test_valid_samples_parse() -> None:
    """The seeds are valid, so the mutations below start from accepted input."""
    plan_from_qgc(QGC_DOC)
    waypoints_to_plan(WAYPOINTS_TEXT)
    areas_from_geojson(GEOJSON_DOC)
    areas_from_kml(KML_TEXT)


@SETTINGS
@given(st.one_of(json_values, mutated_json(QGC_DOC)))
def test_qgc_plan_only_missions_errors(doc: Any) -> None:
    _parses_or_missions_error(plan_from_qgc, doc)


@SETTINGS
@given(st.one_of(st.text(max_size=300), mutated_lines(WAYPOINTS_TEXT)))
@example("QGC WPL 110\nINF\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0")
def test_waypoints_only_missions_errors(text: str) -> None:
    _parses_or_missions_error(waypoints_to_plan, text)


@SETTINGS
@given(st.one_of(json_values, mutated_json(GEOJSON_DOC)))
def test_geojson_only_missions_errors(doc: Any) -> None:
    _parses_or_missions_error(areas_from_geojson, doc)


@SETTINGS
@given(st.one_of(st.text(max_size=300), mutated_lines(KML_TEXT)))
def test_kml_only_missions_errors(text: str) -> None:
    _parses_or_missions_error(areas_from_kml, text)


@settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    ext=st.sampled_from([".plan", ".waypoints", ".geojson", ".kml"]),
    data=st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b"\xff\xfe\x00garbage", b"", b"{", b"<kml>", b"QGC WPL 110\n\x80"]),
    ),
)
def test_plan_files_of_any_bytes_only_missions_errors(
    tmp_path_factory: pytest.TempPathFactory, ext: str, data: bytes
) -> None:
    """Files come from disk: bytes that are not UTF-8 are a format error too."""
    path = tmp_path_factory.mktemp("f") / f"x{ext}"
    path.write_bytes(data)
    loader = load_plan if ext in (".plan", ".waypoints") else load_areas
    _parses_or_missions_error(loader, str(path))


# ------------------------------------------------------------ MQTT handlers

SAMPLE_DOC = {
    "vehicle_id": "v1",
    "time_unix_us": 1_700_000_000_000_000,
    "boot_time_ms": 1234,
    "lat_deg": 47.39,
    "lon_deg": 8.54,
    "alt_amsl_m": 500.0,
    "rel_alt_m": 20.0,
    "battery_pct": 80.0,
    "mode": "AUTO.MISSION",
    "armed": True,
}
EVENT_DOC = {
    "kind": "incident.opened",
    "vehicle_id": "v1",
    "time_unix_us": 1_700_000_000_000_000,
    "event_id": "e-1",
    "body": {"id": 3, "text": "x"},
}
payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_json(SAMPLE_DOC).map(lambda v: json.dumps(v).encode()),
    mutated_json(EVENT_DOC).map(lambda v: json.dumps(v).encode()),
)


@SETTINGS
@given(payloads)
def test_decode_sample_only_telemetry_errors(payload: bytes) -> None:
    try:
        sample = decode_sample(payload)
    except TelemetryError as exc:
        _one_line(exc)
    else:
        for name in ("lat_deg", "lon_deg", "alt_amsl_m"):
            value = getattr(sample, name, None)
            assert value is None or isinstance(value, float | int)


@SETTINGS
@given(payloads)
def test_decode_event_only_telemetry_errors(payload: bytes) -> None:
    try:
        decode_event(payload)
    except TelemetryError as exc:
        _one_line(exc)


topics = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "drone-ops/f/v1/telemetry",
            "drone-ops/f/v1/state",
            "drone-ops/f/v1/events",
            "drone-ops/f/incidents",
            "drone-ops/f/controllers/c1",
            "drone-ops//telemetry",
            "drone-ops/f/v1/telemetry/extra",
        ]
    ),
)


@SETTINGS
@given(topic=topics, payload=payloads, retained=st.booleans())
def test_watch_formatter_never_raises(topic: str, payload: bytes, retained: bool) -> None:
    """`drone-ops watch` prints every message on one line, undecodable ones marked."""
    line = format_message(topic, payload, retained=retained)
    assert isinstance(line, str)
    assert "\n" not in line


def test_sample_seed_decodes() -> None:
    sample = decode_sample(json.dumps(SAMPLE_DOC).encode())
    assert math.isclose(sample.lat_deg or 0.0, 47.39)
    decode_event(json.dumps(EVENT_DOC).encode())


# ------------------------------------------------------------- config files

toml_keys = st.sampled_from(
    [
        "speedup",
        "timeouts",
        "preflight",
        "safety",
        "link",
        "service",
        "vehicles",
        "video",
        "connect_s",
        "command_ack_s",
        "min_battery_pct",
        "enabled",
        "dir",
        "pre_s",
        "retention_s",
        "store",
        "metrics_port",
        "controller_config",
        "tlog_dir",
        "controller_id",
        "lease_ttl_s",
        "leases",
        "mqtt",
        "fleet",
        "scheduler_poll_s",
        "id",
        "connect",
        "bogus",
    ]
)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


toml_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.text(max_size=10),
)
toml_values = st.one_of(
    toml_scalars,
    st.lists(toml_scalars, max_size=3),
    st.dictionaries(toml_keys, toml_scalars, max_size=4),
)


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    """Mostly well-formed TOML with known table and key names and random values."""
    lines: list[str] = []
    for key, value in draw(st.dictionaries(toml_keys, toml_scalars, max_size=2)).items():
        lines.append(f"{key} = {_toml_value(value)}")
    for table in draw(st.lists(toml_keys, max_size=3, unique=True)):
        header = f"[[{table}]]" if table == "vehicles" else f"[{table}]"
        lines.append(header)
        for key, value in draw(st.dictionaries(toml_keys, toml_values, max_size=4)).items():
            lines.append(f"{key} = {_toml_value(value)}")
    if draw(st.integers(0, 9)) == 0:
        lines.append(draw(st.text(max_size=30)))
    return "\n".join(lines) + "\n"


@SETTINGS
@given(st.one_of(toml_documents(), st.text(max_size=100)))
@example("speedup = nan\n")
@example("speedup = true\n")
@example("[timeouts]\nconnect_s = -1\n")
@example('[timeouts]\nconnect_s = "x"\n')
@example("[link]\nsample_interval_s = inf\n")
def test_controller_config_only_one_line_errors(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "controller.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path)
    except DroneOpsError as exc:
        _one_line(exc)


@SETTINGS
@given(st.one_of(toml_documents(), st.text(max_size=100)))
@example('[service]\nspeedup = "fast"\n')
@example("[service]\nspeedup = [1]\n")
@example("[service]\nmetrics_port = 1e9\n")
@example("[service]\nlease_ttl_s = nan\n")
@example("[service]\nstore = 5\n")
@example('[service]\ncontroller_config = "missing.toml"\n')
@example("[service]\ntlog_dir = 3\n")
@example('[[vehicles]]\nid = "v1"\nconnect = 5\n')
@example("vehicles = 3\n")
@example("[video]\nenabled = true\npre_s = -5\n")
def test_serve_config_only_one_line_errors(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "serve.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_service_config(path)
    except DroneOpsError as exc:
        _one_line(exc)


# ------------------------------------------------- simulator's MAVLink handling


@dataclass(slots=True)
class _RunningSim:
    """One simulated vehicle on its own event loop in a thread, so that
    hypothesis (synchronous) can drive it example after example."""

    fleet: SimFleet
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event
    errors: list[logging.LogRecord]
    gcs_local: int
    gcs_remote: int


class _ErrorRecords(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture(scope="module")
def running_sim() -> Iterator[_RunningSim]:
    ports = free_vehicle_ports(1)
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> None:
        stop = asyncio.Event()
        async with SimFleet(SimConfig(count=1, speedup=10.0, ports=ports)) as fleet:
            box.update(fleet=fleet, loop=asyncio.get_running_loop(), stop=stop)
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(main())
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="sim-under-fuzz", daemon=True)
    thread.start()
    assert ready.wait(30), "simulator did not start"
    assert "fleet" in box, "simulator did not start"
    errors: list[logging.LogRecord] = []
    handler = _ErrorRecords(errors)
    logging.getLogger("sitl").addHandler(handler)
    try:
        yield _RunningSim(
            fleet=box["fleet"],
            loop=box["loop"],
            stop=box["stop"],
            errors=errors,
            gcs_local=ports[0].gcs_local,
            gcs_remote=ports[0].gcs_remote,
        )
    finally:
        logging.getLogger("sitl").removeHandler(handler)
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


u8 = st.integers(0, 255)
u16 = st.integers(0, 65535)
i32 = st.integers(-(2**31), 2**31 - 1)
f32 = st.one_of(
    st.floats(width=32, allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0, math.nan, math.inf, -math.inf, 3.4e38]),
)
KNOWN_COMMANDS = [16, 20, 21, 22, 176, 178, 179, 192, 193, 246, 300, 400, 410, 420, 510, 511, 512]
commands = st.one_of(st.sampled_from(KNOWN_COMMANDS), u16)
target = st.sampled_from([0, 1, 1, 1, 2, 255])


def _frames(mav: Any) -> st.SearchStrategy[bytes]:
    """Datagrams: noise, cut frames, and valid frames with weird contents."""

    def pack(msg: Any) -> bytes:
        data: bytes = msg.pack(mav)
        mav.seq = (mav.seq + 1) % 256
        return data

    messages = st.one_of(
        st.builds(
            mavlink.MAVLink_command_long_message,
            target,
            u8,
            commands,
            u8,
            f32,
            f32,
            f32,
            f32,
            f32,
            f32,
            f32,
        ),
        st.builds(
            mavlink.MAVLink_command_int_message,
            target,
            u8,
            u8,
            commands,
            u8,
            u8,
            f32,
            f32,
            f32,
            f32,
            i32,
            i32,
            f32,
        ),
        st.builds(mavlink.MAVLink_mission_count_message, target, u8, u16, u8),
        st.builds(
            mavlink.MAVLink_mission_item_int_message,
            target,
            u8,
            u16,
            u8,
            commands,
            u8,
            u8,
            f32,
            f32,
            f32,
            f32,
            i32,
            i32,
            f32,
            u8,
        ),
        st.builds(mavlink.MAVLink_mission_request_int_message, target, u8, u16, u8),
        st.builds(mavlink.MAVLink_mission_request_list_message, target, u8, u8),
        st.builds(mavlink.MAVLink_mission_set_current_message, target, u8, u16),
        st.builds(mavlink.MAVLink_mission_clear_all_message, target, u8, u8),
        st.builds(mavlink.MAVLink_mission_ack_message, target, u8, u8, u8),
        st.builds(mavlink.MAVLink_set_mode_message, target, u8, st.integers(0, 2**32 - 1)),
        st.builds(
            mavlink.MAVLink_param_set_message,
            target,
            u8,
            st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", max_size=16).map(str.encode),
            f32,
            u8,
        ),
        st.builds(
            mavlink.MAVLink_param_request_read_message,
            target,
            u8,
            st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", max_size=16).map(str.encode),
            st.integers(-32768, 32767),
        ),
    ).map(pack)
    cut = st.tuples(messages, st.integers(0, 40)).map(lambda mc: mc[0][: mc[1]])
    noise = st.one_of(
        st.binary(max_size=300), st.binary(max_size=60).map(lambda b: b"\xfd" + b), st.just(b"")
    )
    return st.one_of(messages, messages, cut, noise)


# A GCS resends an unanswered command; a quarter second is a few vehicle ticks
# (20 ms each), so a probe swallowed by a cut frame costs little wall time.
RESEND_S = 0.25


def _probe(sock: socket.socket, mav: Any, vehicle: tuple[str, int], timeout_s: float) -> Any:
    """REQUEST_MESSAGE(AUTOPILOT_VERSION), resent every RESEND_S as a GCS does, until acked.

    The resend matters: like PX4's C parser, the vehicle parses its link as one
    byte stream, so a cut frame may swallow the start of the next datagram."""
    probe = mavlink.MAVLink_command_long_message(1, 1, 512, 0, 148, 0, 0, 0, 0, 0, 0)
    deadline = time.monotonic() + timeout_s
    resend_at = 0.0
    while (now := time.monotonic()) < deadline:
        if now >= resend_at:
            sock.sendto(probe.pack(mav), vehicle)
            resend_at = now + RESEND_S
        sock.settimeout(max(0.01, min(deadline, resend_at) - now))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            continue
        for msg in mav.parse_buffer(data) or ():
            if msg.get_type() == "COMMAND_ACK" and msg.command == 512:
                return msg
    raise AssertionError(f"no COMMAND_ACK for REQUEST_MESSAGE within {timeout_s} s")


@settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_simulator_survives_random_and_weird_mavlink(
    running_sim: _RunningSim, data: st.DataObject
) -> None:
    """Whatever arrives, the vehicle still answers a well-formed command and its
    state stays sane: a known mode, a finite position, no handler error logged."""
    mav = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    mav.robust_parsing = True
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # The GCS link streams to gcs_remote: listen there, so the acks come back to us.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", running_sim.gcs_remote))
        vehicle = ("127.0.0.1", running_sim.gcs_local)
        for datagram in data.draw(st.lists(_frames(mav), min_size=1, max_size=12)):
            sock.sendto(datagram, vehicle)
        try:
            ack = _probe(sock, mav, vehicle, timeout_s=10.0)
        except AssertionError as exc:
            history = list(running_sim.fleet.vehicles[0].history)[-8:]
            raise AssertionError(f"{exc}; vehicle history: {history}") from None
    assert ack.result == 0  # MAV_RESULT_ACCEPTED
    v = running_sim.fleet.vehicles[0]
    assert isinstance(v.mode, FlightMode)
    lat, lon = v.position()
    assert math.isfinite(lat)
    assert math.isfinite(lon)
    assert -90 <= lat <= 90
    assert math.isfinite(v.amsl_m())
    assert math.isfinite(v.battery_pct())
    assert not running_sim.errors, [r.getMessage() for r in running_sim.errors]
